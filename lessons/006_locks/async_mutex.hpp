// Lesson 006: an async mutex for coroutines, the C++ counterpart of asyncio.Lock.
//
// Asio has no async mutex, so this lesson builds one from a queue of suspended operations
// (WaitQueue, reused by lesson 008's Condition). It follows asyncio's design point by point:
//  * lock() on a free mutex nobody waits for takes it at once, without suspending;
//  * otherwise the task joins a FIFO queue: first come, first served;
//  * unlock() only *wakes* the first waiter (its completion is posted, never run inside
//    unlock()); the waiter takes the lock when it actually resumes. If it was cancelled in
//    between, it takes nothing and wakes the next waiter instead, so no wake-up is lost;
//  * unlock() of a mutex that is not locked is an error (asyncio: RuntimeError; here:
//    std::logic_error).
//
// Threading contract, as asyncio.Lock ("not thread-safe"): use a Mutex from one executor only:
// a single-threaded io_context, or one strand of a multi-threaded one. Every call and every
// waiting coroutine runs there; completions are posted to each waiter's associated executor,
// which must be that same executor. Destroy the mutex only after its waiters are done.
//
// A strand (lesson 017) does not replace this mutex: it runs one handler at a time, but a
// check-then-act that spans a co_await is two handlers, and other tasks run in between.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>  // std::adopt_lock_t
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

namespace lesson006 {

/// A FIFO queue of suspended asynchronous operations: what asyncio keeps as a deque of
/// futures inside every primitive. async_wait() suspends the caller until wake() picks it.
///
/// A waiter goes through these states:
///   waiting --wake()--> woken --(it resumes)--> completes with on_wake(false)
///   waiting --cancel--> cancelled --(it resumes)--> completes with operation_aborted
///   woken   --cancel--> woken_then_cancelled --(it resumes)--> completes with on_wake(true)
/// A waiter stays in the queue until its completion actually runs, so the owner decides what
/// a wake-up means at that moment (the mutex takes the lock then, or passes it on).
/// Threading: as Mutex (one executor, not thread-safe).
class WaitQueue {
 public:
  /// Called when a woken waiter resumes, with `cancelled` = it was cancelled after being
  /// woken; returns the error code the waiter completes with. Without one, a woken waiter
  /// completes with success, or operation_aborted if it was cancelled meanwhile.
  using OnWake = std::function<std::error_code(bool cancelled)>;

  explicit WaitQueue(asio::any_io_executor executor, OnWake on_wake = {});
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  /// Joins the back of the queue; completes with void(std::error_code). `wake_at_once()` is
  /// asked first, when the operation starts: if it returns true the waiter is woken at once
  /// (its completion is still posted, as for any Asio operation). Cancellable through the
  /// token's cancellation slot, with any cancellation type: a waiter not yet woken leaves the
  /// queue with no other effect.
  template <typename Token, typename WakeAtOnce>
  auto async_wait(Token&& token, WakeAtOnce wake_at_once);

  template <typename Token>
  auto async_wait(Token&& token) {
    return async_wait(std::forward<Token>(token), [] { return false; });
  }

  /// Wakes the first `n` waiters that are still waiting, in FIFO order, and returns how many
  /// it woke. Their completions are posted: none of them runs inside this call.
  std::size_t wake(std::size_t n);

  /// True if no waiter is waiting or woken-but-not-yet-resumed.
  bool empty() const;
  /// How many waiters are waiting and not yet woken.
  std::size_t waiting() const;

  const asio::any_io_executor& get_executor() const { return executor_; }

 private:
  enum class State { waiting, woken, woken_then_cancelled, cancelled };
  struct Waiter;
  using Iterator = std::list<Waiter>::iterator;

  // The type-erased pending handler of one waiter.
  struct Completion {
    virtual ~Completion() = default;
    // Posts the handler; when it runs it first asks queue.resume(self) for its result.
    virtual void post(WaitQueue& queue, Iterator self) = 0;
  };
  template <typename Handler>
  class HandlerCompletion;

  struct Waiter {
    State state = State::waiting;
    std::unique_ptr<Completion> completion;
  };

  // Installed in the waiter's cancellation slot; runs when the slot's signal is emitted.
  struct CancelHandler {
    WaitQueue* queue;
    Iterator waiter;
    void operator()(asio::cancellation_type type) const {
      if (type != asio::cancellation_type::none) queue->cancel(waiter);
    }
  };

  void wake_one(Iterator waiter);
  void cancel(Iterator waiter);
  std::error_code resume(Iterator waiter);

  asio::any_io_executor executor_;
  OnWake on_wake_;
  std::list<Waiter> waiters_;  // std::list: iterators stay valid while others come and go
};

template <typename Handler>
class WaitQueue::HandlerCompletion final : public Completion {
 public:
  HandlerCompletion(Handler handler, const asio::any_io_executor& fallback)
      : handler_(std::move(handler)),
        // Like every Asio operation: the handler runs on its associated executor (for
        // use_awaitable, the coroutine's), and a pending waiter counts as work, so
        // io_context::run() does not return while a task waits.
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

  void post(WaitQueue& queue, Iterator self) override {
    asio::post(work_, [handler = std::move(handler_), &queue, self]() mutable {
      // The operation is over: a later emit() must not reach our CancelHandler.
      auto slot = asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();
      std::error_code result = queue.resume(self);  // erases *self, and this object with it
      std::move(handler)(result);
    });
  }

 private:
  Handler handler_;
  asio::any_io_executor work_;
};

template <typename Token, typename WakeAtOnce>
auto WaitQueue::async_wait(Token&& token, WakeAtOnce wake_at_once) {
  // async_initiate turns the token into a handler (for use_awaitable: "resume this
  // coroutine") and calls the lambda with it when the operation starts.
  auto initiation = [this, wake_at_once](auto handler) mutable {
    using Handler = decltype(handler);
    const bool at_once = wake_at_once();  // asked before we join the queue
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto completion = std::make_unique<HandlerCompletion<Handler>>(std::move(handler), executor_);
    Iterator self = waiters_.insert(waiters_.end(), Waiter{State::waiting, std::move(completion)});
    if (slot.is_connected()) slot.template emplace<CancelHandler>(CancelHandler{this, self});
    if (at_once) wake_one(self);
  };
  return asio::async_initiate<Token, void(std::error_code)>(std::move(initiation), token);
}

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
  std::error_code on_wake(bool cancelled);

  bool locked_ = false;
  WaitQueue waiters_;
};

}  // namespace lesson006
