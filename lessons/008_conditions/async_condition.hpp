// Lesson 008: an async condition variable, the C++ counterpart of asyncio.Condition.
//
// A condition lets tasks wait, with a lock held, until some shared state changes: a consumer
// waits until a queue is not empty, a producer notifies after filling it. It is built from
// lesson 006's Mutex and WaitQueue and matches asyncio point by point:
//  * wait() needs the lock: it releases it, waits for a notification, and re-acquires it
//    before returning. It re-acquires it even when cancelled (asyncio: "must re-acquire lock
//    even if wait is cancelled"), so the caller's guard is always valid afterwards, and only
//    then throws operation_aborted (asyncio: CancelledError);
//  * a wait() that ends with an error (a cancellation) after it was notified passes one
//    notification on, so no wake-up is lost (asyncio 3.13: gh-112202). This may cause a
//    spurious wake-up, which conditions allow: re-check the state, or use wait_for();
//  * wait_for(predicate) waits until predicate() is true, re-checking it after each wake-up;
//  * notify(n) wakes at most n waiters, first come first served; notify_all() wakes all;
//    notifying with no waiters does nothing. Woken tasks run later, never inside notify();
//  * wait() or notify() without the lock held is an error (asyncio: RuntimeError; here:
//    std::logic_error). As in asyncio "held" means "locked": a lock has no owner task, so
//    it cannot tell whether the caller is the task that locked it.
// Differences: the condition shares a Mutex you pass in (asyncio can also make its own);
// you lock that mutex (`auto guard = co_await mutex.lock();`) instead of `async with cond:`;
// wait() and wait_for() return void, not True / the predicate's value.
//
// Threading contract (asyncio.Condition: "not thread-safe"): as the Mutex, one executor
// only (a single-threaded io_context or one strand).
//
// Lifetime, the rule asio::steady_timer follows (lesson 006's WaitQueue): destroying the
// condition makes every wait() not resumed yet, even one notify() already woke, re-acquire
// the mutex and throw operation_aborted; the mutex must outlive the waiters (their guards
// refer to it). Destroying the io_context while tasks wait destroys their coroutine frames.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include <asio/awaitable.hpp>

#include "async_mutex.hpp"

namespace lesson008 {

/// asyncio.Condition for Asio coroutines, sharing a lesson006::Mutex.
class Condition {
 public:
  /// The mutex must outlive the condition; every waiter and notifier holds it.
  explicit Condition(lesson006::Mutex& mutex);
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// Releases the mutex, waits for notify() / notify_all(), re-acquires the mutex, returns.
  /// Throws std::logic_error if the mutex is not locked. If the coroutine is cancelled
  /// meanwhile, it still re-acquires the mutex first, then throws operation_aborted.
  asio::awaitable<void> wait();

  /// Returns once predicate() is true: checks it first (no wait at all if it already is),
  /// then after every wake-up. Call it with the mutex held; predicate() runs with it held.
  asio::awaitable<void> wait_for(std::function<bool()> predicate);

  /// Wakes at most `n` waiting tasks, in FIFO order. Throws std::logic_error if the mutex is
  /// not locked.
  void notify(std::size_t n = 1);
  /// Wakes every waiting task. Throws std::logic_error if the mutex is not locked.
  void notify_all();

  /// How many tasks wait for a notification (for tests and logs; asyncio has none).
  std::size_t waiting() const { return waiters_->waiting(); }
  lesson006::Mutex& mutex() const { return mutex_; }

 private:
  lesson006::Mutex& mutex_;
  // Tasks waiting for a notification (not for the lock). Shared so that a wait() can tell,
  // through a weak_ptr, whether the condition still exists once it has the mutex back.
  std::shared_ptr<lesson006::WaitQueue> waiters_;
};

}  // namespace lesson008
