// Lesson 009: semaphores. asyncio.Semaphore and asyncio.BoundedSemaphore, built on Asio.
//
// Asio has no async semaphore, so this lesson builds one: a counter of free permits plus a
// FIFO queue of pending acquire operations. It follows CPython's asyncio/locks.py point by point:
//
//   asyncio                                   here
//   Semaphore(value=1), ValueError if < 0     Semaphore(executor, value = 1), std::invalid_argument
//   await sem.acquire()  (returns True)       co_await sem.acquire()  (returns a Permit), or
//                                             sem.async_acquire(token)  (any Asio token)
//   async with sem: ...                       auto permit = co_await sem.acquire();  (RAII)
//   sem.release()                             sem.release()  (or permit.release() / ~Permit)
//   sem.locked()                              sem.locked()
//   BoundedSemaphore: ValueError on           BoundedSemaphore: throws ReleasedTooManyTimes
//   release above the initial value           (a std::logic_error, like ValueError a usage bug)
//
// The design rules, the same as asyncio's:
//   * FIFO and no barging: a permit goes to the task that has waited longest. A new acquire()
//     queues behind existing waiters even if a permit was released a moment ago and its woken
//     waiter has not run yet (locked() stays true until the queue is empty).
//   * release() only *wakes* a waiter: it reserves the permit for it and posts the wake-up to
//     the waiter's executor. release() never runs the woken task inside its own call.
//   * The woken waiter takes the permit when it actually resumes. If it was cancelled in
//     between, it does not keep the permit: it hands it to the next waiter (or leaves it free).
//     A cancelled wait therefore never loses a wake-up and never leaks a permit.
//
// Threading contract: like every asyncio primitive, a Semaphore is bound to one event loop.
// Construct it with the executor the tasks run on (a single-threaded io_context, or a strand
// if the io_context runs on several threads) and call everything, and complete every
// operation, on that executor. It is not thread-safe: there is no mutex inside.
//
// Where C++ differs from asyncio:
//   * acquire() returns an RAII Permit (the `async with` block): the permit is released when the
//     Permit is destroyed, also when an exception unwinds the coroutine.
//   * async_acquire() is an ordinary Asio asynchronous operation (signature void(error_code)):
//     it completes through the executor, never inside the call, even when a permit is free. The
//     coroutine acquire() keeps asyncio's fast path: a free permit with nobody queued is taken
//     at once, without suspending.
//   * Cancellation is Asio's: a cancellation slot (bind_cancellation_slot, or `||` cancelling
//     the losing coroutine) instead of Task.cancel(); the waiter fails with
//     asio::error::operation_aborted (a std::system_error in a coroutine) instead of
//     CancelledError.
//   * Lifetime, the rule asio::steady_timer follows (every primitive of Part II): destroying a
//     Semaphore fails the acquire operations not resumed yet with operation_aborted, even one
//     release() already woke (Python's garbage collector never destroys an object a task still
//     awaits); destroying the io_context while tasks wait destroys their coroutine frames
//     (lesson 006's waiter_service.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/prefer.hpp>

#include "waiter_service.hpp"  // lesson 006's: the io_context owns waiting handlers

namespace lesson009 {

using std::chrono::milliseconds;

class Semaphore;

/// Thrown by BoundedSemaphore::release() when it would raise the counter above its initial
/// value: asyncio raises ValueError('BoundedSemaphore released too many times').
class ReleasedTooManyTimes : public std::logic_error {
 public:
  ReleasedTooManyTimes() : std::logic_error("BoundedSemaphore released too many times") {}
};

/// One acquired permit, the body of `async with sem:`. Movable, not copyable; releases its
/// permit when destroyed (or earlier, with release()). An empty Permit (default-constructed or
/// moved from) owns nothing.
class Permit {
 public:
  Permit() = default;
  Permit(Permit&& other) noexcept : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
  Permit& operator=(Permit&& other) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  /// Releases the permit. (noexcept, as every destructor: if a BoundedSemaphore was released
  /// too many times by hand, the error surfaces here as std::terminate.)
  ~Permit() { release(); }

  /// Gives the permit back now; afterwards this Permit is empty. Does nothing if empty.
  void release();
  /// True while this Permit holds a permit.
  explicit operator bool() const { return semaphore_ != nullptr; }

 private:
  friend class Semaphore;
  explicit Permit(Semaphore& semaphore) : semaphore_(&semaphore) {}
  Semaphore* semaphore_ = nullptr;
};

/// asyncio.Semaphore: `value` permits; acquire() takes one (waiting, in FIFO order, while none
/// is free), release() gives one back. See the top of this file for the rules and the
/// threading contract (one executor, not thread-safe).
class Semaphore {
 public:
  /// A semaphore with `value` free permits whose operations complete on `executor` (unless a
  /// handler has an associated executor of its own). Throws std::invalid_argument if value < 0.
  explicit Semaphore(asio::any_io_executor executor, int value = 1);
  /// Fails pending acquire operations with asio::error::operation_aborted.
  ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// `await sem.acquire()` with an RAII result: waits (FIFO) for a permit and returns it.
  /// Takes a free permit at once, without suspending, when nobody is queued (asyncio does too).
  /// Throws std::system_error(asio::error::operation_aborted) if cancelled while waiting.
  asio::awaitable<Permit> acquire();

  /// The same as an Asio asynchronous operation, signature void(std::error_code): completes
  /// with success once the caller owns a permit (release it with release()), or with
  /// asio::error::operation_aborted if cancelled through the token's cancellation slot first.
  /// Always completes through the executor, never inside this call.
  template <typename CompletionToken>
  auto async_acquire(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [this](auto handler) {
          using Handler = decltype(handler);
          enqueue(std::make_shared<WaiterFor<Handler>>(std::move(handler), executor_));
        },
        token);
  }

  /// Gives one permit back and wakes the longest waiter, if any (the wake-up is posted, the
  /// woken task runs later). A plain Semaphore allows more releases than acquires, like
  /// asyncio's; a BoundedSemaphore throws ReleasedTooManyTimes.
  void release();

  /// asyncio's locked(): true if acquire() cannot take a permit immediately, because none is
  /// free or because other tasks are queued (FIFO: they go first).
  bool locked() const { return value_ == 0 || !queue_.empty(); }
  /// Free permits right now (permits reserved for woken waiters that have not run yet are not
  /// free). asyncio keeps this private as `_value`; tests and the demo read it.
  int value() const { return value_; }
  /// Acquire operations queued (waiting, or woken and about to run).
  std::size_t waiting() const { return queue_.size(); }

 protected:
  /// For BoundedSemaphore: with `bounded`, release() refuses to exceed the initial value.
  Semaphore(asio::any_io_executor executor, int value, bool bounded);

 private:
  // One pending acquire operation. The type-erased part lives here and in the .cpp file; the
  // part that knows the handler's type is WaiterFor below.
  // Registered with its io_context (lesson006::ContextOwned) until it completes, so that
  // destroying the io_context destroys a waiting handler, as it does a timer's.
  struct Waiter : lesson006::ContextOwned {
    enum class State { queued, woken, done };
    explicit Waiter(asio::any_io_executor work_executor, asio::cancellation_slot cancel_slot)
        : ContextOwned(work_executor), executor(std::move(work_executor)), slot(cancel_slot) {}
    /// Invokes the handler, right here: the caller is already on the handler's executor.
    virtual void complete(std::error_code error) = 0;

    asio::any_io_executor executor;  // the handler's executor, counting as outstanding work
    asio::cancellation_slot slot;    // the handler's cancellation slot (may be unconnected)
    Semaphore* owner = nullptr;      // null once the semaphore is destroyed
    State state = State::queued;
    bool cancel_requested = false;   // cancelled after being woken: give the permit back
  };

  template <typename Handler>
  struct WaiterFor final : Waiter {
    WaiterFor(Handler h, const asio::any_io_executor& fallback)
        // Like every Asio operation: complete on the handler's associated executor (the
        // coroutine's, for use_awaitable), and keep that executor's run() busy while pending.
        : Waiter(asio::prefer(asio::get_associated_executor(h, fallback),
                              asio::execution::outstanding_work.tracked),
                 asio::get_associated_cancellation_slot(h)),
          handler(std::move(h)) {}
    void complete(std::error_code error) override {
      release();     // ours to call now, no longer the io_context's to destroy
      slot.clear();  // the handler may reuse its slot for its next operation
      Handler local = std::move(*handler);
      handler.reset();
      std::move(local)(error);
    }
    void abandon() override {  // the io_context is being destroyed
      state = State::done;     // the semaphore, if it still exists, skips us from now on
      executor = {};           // no outstanding work left on the dying io_context
      slot.clear();
      [[maybe_unused]] Handler doomed = std::move(*handler);  // dies on return, the frame too
      handler.reset();
    }
    std::optional<Handler> handler;
  };

  void enqueue(std::shared_ptr<Waiter> waiter);
  void wake_waiters();
  void resume(const std::shared_ptr<Waiter>& waiter);
  void cancel(Waiter* waiter);
  static void post_completion(std::shared_ptr<Waiter> waiter, std::error_code error);

  asio::any_io_executor executor_;
  int value_ = 0;
  bool bounded_ = false;
  int bound_ = 0;
  std::list<std::shared_ptr<Waiter>> queue_;  // FIFO: woken waiters first, then queued ones
};

/// asyncio.BoundedSemaphore: a Semaphore whose release() throws ReleasedTooManyTimes instead
/// of raising the counter above its initial value (a release without a matching acquire is a
/// bug that would silently let one more task in).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(asio::any_io_executor executor, int value = 1)
      : Semaphore(std::move(executor), value, true) {}
};

/// What run_limited() observed.
struct LimitReport {
  int max_running = 0;           // the most jobs ever running at the same moment
  std::vector<int> start_order;  // job numbers (1-based) in the order they got a permit
};

/// The classic use: run one job per entry of `durations` (job i sleeps durations[i-1]), all
/// started at once, but at most `limit` at a time: each job holds a permit of a
/// Semaphore(limit) while it works. Logs each job's progress with tut::log.
asio::awaitable<LimitReport> run_limited(std::vector<milliseconds> durations, int limit);

}  // namespace lesson009
