// Lesson 005: cancellation. The core functions the demo and the tests call.
//
// asyncio counterparts and where Asio differs:
//   task.cancel()          -> Task::cancel(): emits an asio::cancellation_signal whose slot was
//                             bound to the co_spawn with asio::bind_cancellation_slot.
//   CancelledError         -> std::system_error with asio::error::operation_aborted, thrown by the
//                             operation the task is suspended in (a timer wait, a read...).
//   try/finally cleanup    -> RAII destructors and catch-and-rethrow, as for any exception. A
//                             cleanup that must co_await first resets the cancellation state
//                             (co_await is not allowed inside a catch block, and the state stays
//                             "cancelled", so a plain co_await would throw at once).
//   asyncio.shield(aw)     -> run the work as a Task of its own and await Task::result(): a
//                             cancelled await ends, the work goes on. Plain `co_await work()`
//                             shares the caller's cancellation state, and `co_await
//                             co_spawn(ex, work(), use_awaitable)` forwards it: NOT shielded.
// Differences from asyncio:
//   * Cancellation has a type (terminal, partial, total: see Task::cancel) and each coroutine
//     filters it. By default a coroutine accepts only terminal requests; others are ignored.
//   * Asio only aborts the operation pending when the signal is emitted. If none is pending
//     (the task is between two operations, or in one that does not support cancellation) the
//     request is only recorded in the coroutine's cancellation_state; with throw_if_cancelled
//     on (the default) the next co_await throws operation_aborted before it starts.
//   * `co_await co_spawn(ex, child(), use_awaitable)` forwards the awaiter's cancellation to the
//     child, like asyncio's `await task` (co_spawn connects the child to the awaiting coroutine's
//     cancellation slot: see await_spawned). This lesson's Task is different on purpose: its
//     result arrives through a channel, so awaiting Task::result() forwards nothing and behaves
//     like `await asyncio.shield(task)`.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>

namespace lesson005 {

using std::chrono::milliseconds;

/// What the workers did, in order, as "name: event" strings, for the tests to check.
struct Journal {
  std::vector<std::string> events;
  void add(const std::string& name, const std::string& event) {
    events.push_back(name + ": " + event);
  }
  bool has(const std::string& name, const std::string& event) const;
};

/// asyncio.create_task(work) with Task.cancel(), Task.done() and `await task`.
/// The work starts at once as a coroutine of its own (co_spawn) whose cancellation slot belongs
/// to this Task. Copies share the same task. Use from the executor's thread only.
class Task {
 public:
  Task(asio::any_io_executor executor, asio::awaitable<std::string> work);

  /// Task.cancel(): asks the task to stop. Returns false, and does nothing, if it has already
  /// finished (cancelling a finished task is harmless). The type says what the canceller accepts:
  ///   terminal: the operation may leave its object unusable (only close or destroy it after);
  ///   partial:  the operation may have had side effects, but its object stays usable;
  ///   total:    only if the operation can be undone with no visible side effect.
  /// A coroutine accepts only terminal requests unless it calls
  /// this_coro::reset_cancellation_state with another filter; others are silently ignored.
  bool cancel(asio::cancellation_type_t type = asio::cancellation_type::terminal);

  /// Task.done(): the work has finished (value, error or cancelled).
  bool done() const;

  /// Task.cancelled(): the work has finished, and it ended cancelled (operation_aborted).
  /// A request still pending inside the running task is asyncio's Task.cancelling(): the task
  /// reads it from its own cancellation_state (see two_steps).
  bool cancelled() const;

  /// Awaits the task's end: its value, or its exception (operation_aborted if it was
  /// cancelled). Awaiting it does NOT tie the task to your cancellation: if the awaiting
  /// coroutine is cancelled, only this await ends (with operation_aborted) and the task runs on,
  /// like asyncio.shield. Call it again later to get the result. One awaiter at a time: while
  /// the task runs, a second result() throws std::logic_error at the call, as long as the
  /// awaitable of the first one exists (awaited or not), so `task.result() && task.result()`
  /// fails at once instead of hanging. Once the task is done, any number of calls may await it.
  asio::awaitable<std::string> result();

 private:
  struct State;
  struct Claim;
  static asio::awaitable<std::string> wait_for(Claim claim);
  std::shared_ptr<State> state_;
};

/// Sleeps for `delay` and returns "slept". On cancellation the timer wait throws
/// operation_aborted; the catch block logs it and rethrows (like `except CancelledError: raise`)
/// and an RAII guard's destructor runs the synchronous cleanup, however the coroutine ends.
/// Journal events: "started", "saw operation_aborted", "done", "released" (always last).
asio::awaitable<std::string> sleeper(std::string name, milliseconds delay,
                                     std::shared_ptr<Journal> journal);

/// Works for `work`; if cancelled meanwhile, runs a cleanup that itself co_awaits (for
/// `cleanup`), then rethrows operation_aborted. To be able to co_await after the cancellation
/// it resets the coroutine's cancellation state first. Returns "finished" if not cancelled.
/// Journal events: "cancelled", "cleanup started", "cleanup done", or "finished".
asio::awaitable<std::string> closer(std::string name, milliseconds work, milliseconds cleanup,
                                    std::shared_ptr<Journal> journal);

/// How two_steps() notices a cancellation that arrived while no operation could be aborted.
enum class Check {
  automatic,  ///< default throw_if_cancelled(true): the next co_await throws operation_aborted
  explicit_,  ///< throw_if_cancelled(false), then a look at this_coro::cancellation_state
};

/// Step 1 (`step1`) stands for an operation that does not support cancellation, so a cancel()
/// during it aborts nothing and is only recorded. Step 2 (`step2`) is an ordinary timer wait.
/// automatic: the co_await of step 2 throws before step 2 starts. explicit_: the coroutine sees
/// the recorded request and returns "stopped after step 1" instead. Uncancelled: "both steps".
/// Journal events: "step 1 done", "step 2 done", "stopped after step 1".
asio::awaitable<std::string> two_steps(std::string name, milliseconds step1, milliseconds step2,
                                       Check check, std::shared_ptr<Journal> journal);

/// Sleeps `delay` like sleeper() but first installs a cancellation filter that lets through
/// `accepted` (terminal, terminal|partial or terminal|partial|total; cancellation_type::none
/// disables cancellation). Returns "slept". Journal events: "cancelled (<type>)", "done".
asio::awaitable<std::string> filtered_sleeper(std::string name, milliseconds delay,
                                              asio::cancellation_type_t accepted,
                                              std::shared_ptr<Journal> journal);

/// The unshielded way: co_awaits sleeper(inner, delay) directly. The inner coroutine shares this
/// one's cancellation state, so cancelling this coroutine cancels it too.
/// Journal events: "<name>: cancelled" when cancelled.
asio::awaitable<std::string> await_directly(std::string name, std::string inner, milliseconds delay,
                                            std::shared_ptr<Journal> journal);

/// The asyncio `await task` way: co_awaits co_spawn(executor, sleeper(inner, delay),
/// use_awaitable). The child is a coroutine of its own, yet co_spawn connects it to this
/// coroutine's cancellation slot, so cancelling this coroutine cancels the child too.
/// Journal events: "<name>: cancelled" when cancelled.
asio::awaitable<std::string> await_spawned(std::string name, std::string inner, milliseconds delay,
                                           std::shared_ptr<Journal> journal);

/// The shielded way: co_awaits inner.result(). Cancelling this coroutine ends only its await;
/// the inner task runs on and its result stays available through `inner`.
asio::awaitable<std::string> await_shielded(std::string name, Task inner,
                                            std::shared_ptr<Journal> journal);

/// "none", "terminal", "partial", "total" or a '|'-joined combination.
std::string to_string(asio::cancellation_type_t type);

}  // namespace lesson005
