// Lesson 005: cancellation. The core functions the demo and the tests call.
//
//   task.cancel()          Task::cancel(): emits an asio::cancellation_signal whose slot was
//                          bound to the co_spawn with asio::bind_cancellation_slot.
//   CancelledError         std::system_error with asio::error::operation_aborted, thrown by the
//                          operation the task is suspended in (a timer wait, a read...).
//   try/finally cleanup    RAII destructors, catch-and-rethrow; an awaiting one: see closer().
//   await task             co_await co_spawn(ex, work(), use_awaitable): forwards the awaiter's
//                          cancellation to the work, like `co_await work()`.
//   asyncio.shield(aw)     run the work as a Task and await Task::result(): a cancelled await
//                          ends, the work goes on.
// Where Asio differs: requests have types that coroutines filter (filtered_sleeper()); with no
// operation pending, a request is only recorded (two_steps()).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>

#include "journal.hpp"

namespace lesson005 {

using std::chrono::milliseconds;
using tut::Journal;  // what the workers did: "s: started", "s: released" (common/journal.hpp)

/// asyncio.create_task(work) with Task.cancel(), Task.done() and `await task`: the work starts
/// at once as a coroutine of its own (co_spawn) whose cancellation slot belongs to this Task.
/// Copies share the same task. Use from the executor's thread only.
class Task {
 public:
  Task(asio::any_io_executor executor, asio::awaitable<std::string> work);

  /// Task.cancel(): asks the task to stop; false, and nothing happens, if it has finished.
  /// The type says what the canceller accepts: terminal (the object may be left unusable),
  /// partial (side effects possible, object usable), total (no visible side effect). The
  /// coroutine ignores the types its filter does not accept (terminal only by default).
  bool cancel(asio::cancellation_type_t type = asio::cancellation_type::terminal);

  /// Task.done(): the work has finished (value, error or cancelled).
  bool done() const;

  /// Task.cancelled(): the work has finished, and it ended cancelled (operation_aborted).
  /// (Task.cancelling(): the task reads its own cancellation_state, see two_steps.)
  bool cancelled() const;

  /// Awaits the task's end: its value or exception (operation_aborted if cancelled). A cancelled
  /// awaiter ends only this await; the task runs on (asyncio.shield). One awaiter at a time
  /// while the task runs: a second call throws std::logic_error at once while the awaitable of
  /// the first exists (so `result() && result()` fails, not hangs).
  asio::awaitable<std::string> result();

 private:
  struct State;  // these three: how_it_is_built.hpp
  struct Claim;
  static asio::awaitable<std::string> wait_for(Claim claim);
  std::shared_ptr<State> state_;
};

/// Sleeps for `delay`, returns "slept". Cancelled, it logs and rethrows operation_aborted
/// (`except CancelledError: raise`); an RAII guard cleans up however it ends. Journal events:
/// "started", "saw operation_aborted", "done", "released" (always last).
asio::awaitable<std::string> sleeper(std::string name, milliseconds delay,
                                     std::shared_ptr<Journal> journal);

/// Works for `work`; if cancelled meanwhile, resets its cancellation state, runs a cleanup
/// that itself co_awaits (for `cleanup`), then rethrows operation_aborted. Else "finished".
/// Journal events: "cancelled", "cleanup started", "cleanup done", or "finished".
asio::awaitable<std::string> closer(std::string name, milliseconds work, milliseconds cleanup,
                                    std::shared_ptr<Journal> journal);

/// How two_steps() notices a cancellation that arrived while no operation could be aborted.
enum class Check {
  automatic,  ///< default throw_if_cancelled(true): the next co_await throws operation_aborted
  explicit_,  ///< throw_if_cancelled(false), then a look at this_coro::cancellation_state
};

/// Step 1 stands for an operation that cannot be cancelled: a cancel() during it is only
/// recorded. Then automatic throws before step 2, explicit_ returns "stopped after step 1";
/// uncancelled: "both steps". Journal: "step 1 done", "step 2 done", "stopped after step 1".
asio::awaitable<std::string> two_steps(std::string name, milliseconds step1, milliseconds step2,
                                       Check check, std::shared_ptr<Journal> journal);

/// Sleeps `delay` like sleeper() but first installs a cancellation filter that lets through
/// `accepted` (terminal, terminal|partial or terminal|partial|total; cancellation_type::none
/// disables cancellation). Returns "slept". Journal events: "cancelled (<type>)", "done".
asio::awaitable<std::string> filtered_sleeper(std::string name, milliseconds delay,
                                              asio::cancellation_type_t accepted,
                                              std::shared_ptr<Journal> journal);

/// Three ways to await sleeper(inner, delay); each records "<name>: cancelled" if cancelled.
/// Directly: the inner coroutine shares this one's cancellation state: it is cancelled too.
asio::awaitable<std::string> await_directly(std::string name, std::string inner, milliseconds delay,
                                            std::shared_ptr<Journal> journal);
/// co_await co_spawn(executor, sleeper(...), use_awaitable), asyncio's `await task`: a
/// coroutine of its own, yet co_spawn connects it to this one's slot: it is cancelled too.
asio::awaitable<std::string> await_spawned(std::string name, std::string inner, milliseconds delay,
                                           std::shared_ptr<Journal> journal);
/// Shielded: co_awaits inner.result(). Only this await ends; the inner task runs on and its
/// result stays available through `inner`.
asio::awaitable<std::string> await_shielded(std::string name, Task inner,
                                            std::shared_ptr<Journal> journal);

/// "none", "terminal", "partial", "total" or a '|'-joined combination.
std::string to_string(asio::cancellation_type_t type);

}  // namespace lesson005
