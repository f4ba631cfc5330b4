// Lesson 009: semaphores. asyncio.Semaphore and asyncio.BoundedSemaphore, built on Asio.
//
// The use (run_limited() in semaphore.cpp): at most `limit` jobs at a time.
//   Semaphore semaphore(executor, 2);
//   auto permit = co_await semaphore.acquire();  // `async with sem:`; waits while 2 are taken
//   ...work...                                   // ~Permit gives it back, waking the next waiter
//
//   asyncio                                   here
//   Semaphore(value=1), ValueError if < 0     Semaphore(executor, value = 1), std::invalid_argument
//   await sem.acquire()  (returns True)       co_await sem.acquire()  (returns a Permit), or
//                                             sem.async_acquire(token)  (any Asio token)
//   async with sem: ...                       auto permit = co_await sem.acquire();  (RAII:
//                                             released when destroyed, also by an exception)
//   sem.release()                             sem.release()  (or permit.release() / ~Permit)
//   sem.locked()                              sem.locked()
//   BoundedSemaphore: ValueError on           BoundedSemaphore: throws ReleasedTooManyTimes
//   release above the initial value           (a std::logic_error, like ValueError a usage bug)
//
// Asio has no async semaphore. Ours is a counter of free permits on lesson 006's WaitQueue (the
// FIFO of suspended operations under its Mutex), and follows CPython's asyncio/locks.py:
//   * FIFO and no barging: a permit goes to the task that has waited longest. A new acquire()
//     queues behind existing waiters even if a permit was released a moment ago and its woken
//     waiter has not run yet (locked() stays true until the queue is empty).
//   * release() only *wakes* a waiter: it reserves the permit for it (value() goes down at
//     once, as in asyncio's _wake_up_next) and the wake-up is posted; release() never runs the
//     woken task inside its own call.
//   * The woken waiter takes the permit when it actually resumes. If it was cancelled in
//     between, it does not keep the permit: it hands it to the next waiter (or leaves it free).
//     A cancelled wait therefore never loses a wake-up and never leaks a permit.
//
// Threading contract, as asyncio's (a semaphore belongs to one event loop): construct it with
// the executor the tasks run on (a single-threaded io_context, or a strand) and do everything
// on that executor. It is not thread-safe: there is no mutex inside.
//
// Where C++ differs from asyncio:
//   * async_acquire() is an ordinary Asio operation (void(error_code)): it completes through the
//     executor, never inside the call, even when a permit is free. The coroutine acquire()
//     keeps asyncio's fast path: a free permit with nobody queued is taken without suspending.
//   * Cancellation is Asio's (bind_cancellation_slot, or `||` cancelling the losing coroutine):
//     the waiter fails with operation_aborted (a std::system_error) instead of CancelledError.
//   * Lifetime, the rule asio::steady_timer follows (lesson 006, kept by the WaitQueue):
//     destroying a Semaphore fails the acquire operations not resumed yet with
//     operation_aborted, even one release() already woke; destroying the io_context while
//     tasks wait destroys their coroutine frames.
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "wait_queue.hpp"  // lesson 006's: the FIFO of suspended operations

namespace lesson009 {

using std::chrono::milliseconds;

class Semaphore;

/// BoundedSemaphore::release() above the initial value: asyncio's ValueError.
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
/// is free), release() gives one back. Rules and threading contract: the top of this file.
class Semaphore {
 public:
  /// A semaphore with `value` free permits whose operations complete on `executor` (unless a
  /// handler has an associated executor of its own). Throws std::invalid_argument if value < 0.
  /// Destroying it fails pending acquire operations with asio::error::operation_aborted.
  explicit Semaphore(asio::any_io_executor executor, int value = 1);
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
    // Joins the queue's back; woken at once, reserving it, if a permit is free (none waits then).
    return waiters_.async_wait(std::forward<CompletionToken>(token),
                               [this] { return take_free_permit(); });
  }

  /// Gives one permit back and wakes the longest waiter, if any (the wake-up is posted, the
  /// woken task runs later). A plain Semaphore allows more releases than acquires, like
  /// asyncio's; a BoundedSemaphore throws ReleasedTooManyTimes.
  void release();

  /// asyncio's locked(): true if acquire() cannot take a permit immediately, because none is
  /// free or because other tasks are queued (FIFO: they go first).
  bool locked() const { return value_ == 0 || !waiters_.empty(); }
  /// Free permits right now (permits reserved for woken waiters that have not run yet are not
  /// free). asyncio keeps this private as `_value`; tests and the demo read it.
  int value() const { return value_; }
  /// Acquire operations waiting for a permit (not counting woken ones about to run).
  std::size_t waiting() const { return waiters_.waiting(); }

 protected:
  /// For BoundedSemaphore: with `bounded`, release() refuses to exceed the initial value.
  Semaphore(asio::any_io_executor executor, int value, bool bounded);

 private:
  bool take_free_permit();
  void wake_waiters();
  std::error_code on_wake(bool cancelled);

  int value_ = 0;
  bool bounded_ = false;
  int bound_ = 0;
  lesson006::WaitQueue waiters_;  // the acquire operations, FIFO
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

/// The classic use: one job per entry of `durations` (job i sleeps durations[i-1]), all started
/// at once, at most `limit` at a time: each holds a Semaphore(limit) permit while it works.
asio::awaitable<LimitReport> run_limited(std::vector<milliseconds> durations, int limit);

}  // namespace lesson009
