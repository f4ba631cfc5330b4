// Lesson 007: an async event, the C++ counterpart of asyncio.Event.
//
// An event is a flag tasks can wait for: set() raises it and wakes every task waiting for it;
// clear() lowers it again. Asio has none, so we build it from the same pattern as lesson
// 006's WaitQueue: a list of suspended operations made with asio::async_initiate. It matches
// asyncio point by point:
//  * wait() on a set event returns at once, without suspending (asyncio returns True without
//    yielding to the loop); otherwise the task waits until set();
//  * set() wakes *every* current waiter and returns; the woken tasks run later, on following
//    turns of the loop, never inside set();
//  * a waiter woken by set() returns normally even if clear() is called before it runs: the
//    wake-up is decided at set(), not re-checked when the waiter resumes;
//  * a waiting task can be cancelled (its cancellation slot, or losing an `||` race): it
//    leaves the queue and throws operation_aborted (asyncio: CancelledError). Cancelled after
//    set() woke it but before it ran, it throws too, as in asyncio: cancellation wins.
// Differences: wait() returns void, not True; the raw async_wait(token), like every Asio
// operation, completes through the executor even when the event is already set.
//
// Threading contract (asyncio.Event: "not thread-safe"): use an Event from one executor
// only, a single-threaded io_context or one strand; every call and every waiting coroutine
// runs there. Destroy it only after its waiters are done (share it with shared_ptr).
#pragma once

#include <cstddef>
#include <list>
#include <memory>
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

namespace lesson007 {

/// asyncio.Event for Asio coroutines: `co_await event.wait();` ... `event.set();`
class Event {
 public:
  explicit Event(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Returns at once if the event is set, without suspending; otherwise waits until set().
  /// Throws operation_aborted if the coroutine is cancelled while it waits.
  asio::awaitable<void> wait();

  /// The underlying Asio operation for any completion token: void(std::error_code).
  /// Completes with success once the event is set (at once if it is set now, but always
  /// through the executor), or with operation_aborted when cancelled through its slot.
  template <typename Token>
  auto async_wait(Token&& token);

  /// Sets the flag and wakes every task waiting now. Does nothing if already set.
  void set();
  /// Lowers the flag: later wait() calls block until the next set(). Waiters that set()
  /// already woke still return normally.
  void clear() { set_ = false; }
  bool is_set() const { return set_; }

  /// How many tasks are waiting and not yet woken (for tests and logs; asyncio has none).
  std::size_t waiting() const;

  const asio::any_io_executor& get_executor() const { return executor_; }

 private:
  // A waiter stays listed until its completion runs, so a cancellation that arrives after
  // set() woke it can still be seen (woken -> woken_then_cancelled).
  enum class State { waiting, woken, woken_then_cancelled, cancelled };
  struct Waiter;
  using Iterator = std::list<Waiter>::iterator;

  struct Completion {  // the type-erased pending handler
    virtual ~Completion() = default;
    virtual void post(Event& event, Iterator self) = 0;
  };
  template <typename Handler>
  class HandlerCompletion;

  struct Waiter {
    State state = State::waiting;
    std::unique_ptr<Completion> completion;
  };

  struct CancelHandler {  // lives in the waiter's cancellation slot
    Event* event;
    Iterator waiter;
    void operator()(asio::cancellation_type type) const {
      if (type != asio::cancellation_type::none) event->cancel(waiter);
    }
  };

  void wake(Iterator waiter);
  void cancel(Iterator waiter);
  std::error_code resume(Iterator waiter);

  asio::any_io_executor executor_;
  bool set_ = false;
  std::list<Waiter> waiters_;
};

template <typename Handler>
class Event::HandlerCompletion final : public Completion {
 public:
  HandlerCompletion(Handler handler, const asio::any_io_executor& fallback)
      : handler_(std::move(handler)),
        // Run on the handler's executor (a coroutine's own), and keep run() from returning
        // while the task waits, like every Asio operation.
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

  void post(Event& event, Iterator self) override {
    asio::post(work_, [handler = std::move(handler_), &event, self]() mutable {
      auto slot = asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();  // the operation is over
      std::error_code result = event.resume(self);  // unlists *self, and this object
      std::move(handler)(result);
    });
  }

 private:
  Handler handler_;
  asio::any_io_executor work_;
};

template <typename Token>
auto Event::async_wait(Token&& token) {
  auto initiation = [this](auto handler) {
    using Handler = decltype(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto completion = std::make_unique<HandlerCompletion<Handler>>(std::move(handler), executor_);
    Iterator self = waiters_.insert(waiters_.end(), Waiter{State::waiting, std::move(completion)});
    if (slot.is_connected()) slot.template emplace<CancelHandler>(CancelHandler{this, self});
    if (set_) wake(self);  // already set: complete, but through the executor
  };
  return asio::async_initiate<Token, void(std::error_code)>(std::move(initiation), token);
}

}  // namespace lesson007
