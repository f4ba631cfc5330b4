// Lesson 007: an async event, the C++ counterpart of asyncio.Event.
//
// An event is a flag tasks can wait for: set() raises it and wakes every task waiting for it;
// clear() lowers it again. Asio has none, so we build it on lesson 006's WaitQueue, the FIFO
// of suspended operations that already handles cancellation. It matches asyncio point by
// point:
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
// runs there.
//
// Lifetime, the rule asio::steady_timer follows (lesson 006's WaitQueue): destroying the
// event completes every wait not resumed yet with operation_aborted, even one set() already
// woke; destroying the io_context while tasks wait destroys their coroutine frames.
#pragma once

#include <cstddef>
#include <limits>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "wait_queue.hpp"

namespace lesson007 {

/// asyncio.Event for Asio coroutines: `co_await event.wait();` ... `event.set();`
class Event {
 public:
  explicit Event(asio::any_io_executor executor) : waiters_(std::move(executor)) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Returns at once if the event is set, without suspending; otherwise waits until set().
  /// Throws operation_aborted if the coroutine is cancelled while it waits.
  asio::awaitable<void> wait();

  /// The underlying Asio operation for any completion token: void(std::error_code).
  /// Completes with success once the event is set (at once if it is set now, but always
  /// through the executor), or with operation_aborted when cancelled through its slot.
  template <typename Token>
  auto async_wait(Token&& token) {
    return waiters_.async_wait(std::forward<Token>(token), [this] { return set_; });
  }

  /// Sets the flag and wakes every task waiting now. Does nothing if already set.
  void set();
  /// Lowers the flag: later wait() calls block until the next set(). Waiters that set()
  /// already woke still return normally.
  void clear() { set_ = false; }
  bool is_set() const { return set_; }

  /// How many tasks are waiting and not yet woken (for tests and logs; asyncio has none).
  std::size_t waiting() const { return waiters_.waiting(); }

  const asio::any_io_executor& get_executor() const { return waiters_.get_executor(); }

 private:
  bool set_ = false;
  // No on_wake: a woken waiter succeeds whatever clear() did meanwhile (the wake-up was
  // decided at set()), and one cancelled after its wake-up fails with operation_aborted.
  lesson006::WaitQueue waiters_;
};

}  // namespace lesson007
