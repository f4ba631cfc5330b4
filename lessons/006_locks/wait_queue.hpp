// How it is built: WaitQueue, the queue of suspended operations under lesson 006's Mutex.
// A learner can skip this file at lesson 006: async_mutex.hpp says all the Mutex uses of it.
// It is made of asio::async_initiate, the handler's associated executor and cancellation slot,
// and asio::post, which lesson 018 teaches (cancellation itself: lesson 005); come back then.
//
// Every primitive of Part II needs such a queue: asyncio keeps one (a deque of futures) inside
// each Lock, Event, Condition, Semaphore and Queue. Lesson 006's Mutex is built on it, and
// lessons 007 (Event), 008 (Condition), 009 (Semaphore) and 010 (Queue) reuse it, so the
// delicate part, cancellation racing with a wake-up, is written once. Its implementation is in
// wait_queue.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include "waiter_service.hpp"

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
///
/// Lifetime, the rule asio::steady_timer follows:
///  * the queue may be destroyed while tasks wait, even right after a wake-up was posted:
///    every wait that has not resumed yet completes with operation_aborted (a woken one too:
///    what its wake-up granted, say a lock, belonged to the destroyed object);
///  * if the io_context is destroyed while tasks wait, their handlers are destroyed with it
///    (see waiter_service.hpp): the waiting coroutine frames are destroyed, nothing leaks.
/// Threading: not thread-safe, like the primitives built on it: use it from one executor (a
/// single-threaded io_context, or a strand).
class WaitQueue {
 public:
  /// Called when a woken waiter resumes, with `cancelled` = it was cancelled after being
  /// woken; returns the error code the waiter completes with. Without one, a woken waiter
  /// completes with success, or operation_aborted if it was cancelled meanwhile.
  using OnWake = std::function<std::error_code(bool cancelled)>;

  explicit WaitQueue(asio::any_io_executor executor, OnWake on_wake = {});
  /// Completes every wait not resumed yet with operation_aborted (see "Lifetime" above).
  ~WaitQueue();
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
  using Iterator = std::list<std::shared_ptr<Waiter>>::iterator;

  // One suspended operation, shared by the queue's list and by the completion posted for it.
  // That completion reaches the queue only through `queue`, which ~WaitQueue sets to null.
  struct Waiter : ContextOwned {
    using ContextOwned::ContextOwned;
    virtual void complete(std::error_code result) = 0;  // calls the handler, here and now
    asio::any_io_executor work;  // the handler's executor, counting as outstanding work
    WaitQueue* queue = nullptr;
    Iterator position;  // in queue->waiters_
    State state = State::waiting;
  };
  template <typename Handler>
  struct WaiterFor;

  // Installed in the waiter's cancellation slot; runs when the slot's signal is emitted.
  struct CancelHandler {
    Waiter* waiter;
    void operator()(asio::cancellation_type type) const {
      if (type != asio::cancellation_type::none && waiter->queue) waiter->queue->cancel(*waiter);
    }
  };

  void wake_one(Waiter& waiter);
  void cancel(Waiter& waiter);
  std::error_code resume(Waiter& waiter);
  static void post_completion(std::shared_ptr<Waiter> waiter);

  asio::any_io_executor executor_;
  OnWake on_wake_;
  std::list<std::shared_ptr<Waiter>> waiters_;  // iterators stay valid while others come and go
};

template <typename Handler>
struct WaitQueue::WaiterFor final : Waiter {
  WaiterFor(Handler h, asio::any_io_executor work_executor)
      : Waiter(work_executor), handler(std::move(h)) {
    work = std::move(work_executor);
  }

  void complete(std::error_code result) override {
    release();  // the handler is ours to call now, no longer the io_context's to destroy
    // The operation is over: a later emit() must not reach our CancelHandler.
    auto slot = asio::get_associated_cancellation_slot(*handler);
    if (slot.is_connected()) slot.clear();
    Handler local = std::move(*handler);
    handler.reset();
    std::move(local)(result);
  }

  void abandon() override {
    state = State::cancelled;  // the queue, if it still exists, skips us from now on
    work = {};                 // no outstanding work left on the dying io_context
    auto slot = asio::get_associated_cancellation_slot(*handler);
    if (slot.is_connected()) slot.clear();
    [[maybe_unused]] Handler doomed = std::move(*handler);  // dies on return, the frame too
    handler.reset();
  }

  std::optional<Handler> handler;
};

template <typename Token, typename WakeAtOnce>
auto WaitQueue::async_wait(Token&& token, WakeAtOnce wake_at_once) {
  // async_initiate turns the token into a handler (for use_awaitable: "resume this
  // coroutine") and calls the lambda with it when the operation starts.
  auto initiation = [this, wake_at_once](auto handler) mutable {
    using Handler = decltype(handler);
    const bool at_once = wake_at_once();  // asked before we join the queue
    // Like every Asio operation: the handler runs on its associated executor (for
    // use_awaitable, the coroutine's), and a pending waiter counts as work, so
    // io_context::run() does not return while a task waits.
    asio::any_io_executor work = asio::prefer(asio::get_associated_executor(handler, executor_),
                                              asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto waiter = std::make_shared<WaiterFor<Handler>>(std::move(handler), std::move(work));
    waiter->queue = this;
    waiter->position = waiters_.insert(waiters_.end(), waiter);
    if (slot.is_connected()) slot.template emplace<CancelHandler>(CancelHandler{waiter.get()});
    if (at_once) wake_one(*waiter);
  };
  return asio::async_initiate<Token, void(std::error_code)>(std::move(initiation), token);
}

}  // namespace lesson006
