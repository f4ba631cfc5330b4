// Lesson 006: an async mutex for coroutines, the C++ counterpart of asyncio.Lock.
//
// The use (bank.cpp):
//   auto guard = co_await mutex.lock();  // `async with lock:`; waits while another task holds it
//   ...read, co_await, write...          // no other task can hold the mutex meanwhile
//                                        // ~LockGuard unlocks and wakes the next waiter
//
// Asio has no async mutex, so this lesson builds one, following asyncio's design point by point:
//  * lock() on a free mutex nobody waits for takes it at once, without suspending;
//  * otherwise the task joins a FIFO queue: first come, first served;
//  * unlock() only *wakes* the first waiter (its completion is posted, never run inside
//    unlock()); the waiter takes the lock when it actually resumes. If it was cancelled in
//    between, it takes nothing and wakes the next waiter instead, so no wake-up is lost;
//  * unlock() of a mutex that is not locked is an error (asyncio: RuntimeError; here:
//    std::logic_error).
//
// The queue is a WaitQueue (wait_queue.hpp, "how it is built": skip it now, lesson 018 teaches
// what it is made of). All the Mutex needs to know of it: async_wait(token, wake_at_once)
// suspends the caller at the back of the queue (at once woken if wake_at_once() says so),
// wake(n) wakes the first n, and the function given to its constructor runs when a woken
// waiter resumes and decides how it completes. Waiters cancelled while waiting simply leave.
// Lessons 007 to 010 build their primitives on the same queue.
//
// Threading contract, as asyncio.Lock ("not thread-safe"): use a Mutex from one executor only:
// a single-threaded io_context, or one strand of a multi-threaded one. Every call and every
// waiting coroutine runs there.
//
// Lifetime, the rule asio::steady_timer follows (and every primitive of Part II): destroying
// the mutex completes the waits not resumed yet with operation_aborted, even a waiter that
// unlock() already woke (it gets no lock of a dead mutex); destroying the io_context while
// tasks wait destroys their coroutine frames, running their destructors. WaitQueue does both.
//
// A strand (lesson 017) does not replace this mutex: it runs one handler at a time, but a
// check-then-act that spans a co_await is two handlers, and other tasks run in between.
#pragma once

#include <mutex>  // std::adopt_lock_t
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "wait_queue.hpp"

namespace lesson006 {

class Mutex;

/// Owns a locked Mutex and unlocks it when destroyed: `async with lock:` in C++.
/// Movable, not copyable. A default-constructed guard owns nothing.
class LockGuard {
 public:
  LockGuard() = default;
  /// Takes ownership of `mutex`, which the caller has locked.
  LockGuard(Mutex& mutex, std::adopt_lock_t) noexcept : mutex_(&mutex) {}
  LockGuard(LockGuard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
  LockGuard& operator=(LockGuard&& other) noexcept;
  ~LockGuard();

  /// Unlocks now instead of at the end of the scope; throws std::logic_error if the guard
  /// owns nothing.
  void unlock();
  /// Gives up ownership without unlocking and returns the mutex (nullptr if none).
  Mutex* release() noexcept { return std::exchange(mutex_, nullptr); }
  bool owns_lock() const noexcept { return mutex_ != nullptr; }

 private:
  Mutex* mutex_ = nullptr;
};

/// An async mutex for coroutines: asyncio.Lock. `auto guard = co_await mutex.lock();`
/// See the top of this file for its semantics and threading contract.
class Mutex {
 public:
  explicit Mutex(asio::any_io_executor executor);
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  /// `async with lock:`. Takes a free mutex at once, without suspending; otherwise waits in
  /// FIFO order. Returns a guard that unlocks when destroyed. If the coroutine is cancelled
  /// while it waits (a cancellation slot bound to it, or it loses an `||` race), it throws
  /// operation_aborted and owns nothing.
  asio::awaitable<LockGuard> lock();

  /// The underlying Asio operation, void(std::error_code), for any completion token. On
  /// success the caller owns the lock: adopt it (`LockGuard(mutex, std::adopt_lock)`) or call
  /// unlock(). Always completes through its executor, never inside this call.
  template <typename Token>
  auto async_lock(Token&& token) {
    return waiters_.async_wait(std::forward<Token>(token),
                               [this] { return !locked_ && waiters_.empty(); });
  }

  /// Locks if that needs no waiting: the mutex is free and nobody is queued (not even a
  /// woken waiter on its way), so try_lock never jumps the queue. asyncio has no try-acquire.
  bool try_lock();

  /// asyncio's release(): unlocks and wakes the first waiter. Throws std::logic_error if the
  /// mutex is not locked (asyncio raises RuntimeError). A mutex has no owner task, so like
  /// asyncio it cannot tell whether the caller is the one who locked it.
  void unlock();

  bool locked() const { return locked_; }
  const asio::any_io_executor& get_executor() const { return waiters_.get_executor(); }

 private:
  // Runs when a woken waiter resumes: it takes the lock, or passes the wake-up on.
  std::error_code on_wake(bool cancelled);

  bool locked_ = false;
  WaitQueue waiters_;
};

}  // namespace lesson006
