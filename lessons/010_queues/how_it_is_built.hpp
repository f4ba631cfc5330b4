// How it is built: the machinery behind lesson 010's queues, which you can skip at this lesson
// (queue.hpp says what a queue does). Here: the order policies (which item leaves first), the
// shared state (the items, the unfinished count, asyncio's _getters and _putters lists), and
// one suspended put, get or join: an operation made with asio::async_initiate, woken by
// posting to its coroutine's executor and cancelled through its cancellation slot. Lesson 018
// teaches async_initiate and cancellation slots, lesson 005 cancellation.
//
// Why its own waiter lists? asio::experimental::channel's close() leaves a pending sender
// waiting forever, and up to Asio 1.26 (Debian 12 has 1.22) also discards the buffered
// messages: a task hung, items lost (lesson 019, pitfall 5); the lesson's channel demo ends
// its stream with an error code instead. And any queue that hands an item to a waiter at the
// moment it wakes it has a second trap: if the waiter loses a race with a timer before it
// runs, the item travels in the losing branch's result, which `||` throws away. So a woken
// getter takes its item only when it runs and has not been cancelled, shutdown wakes every
// waiter with a clear error, and a graceful shutdown still hands out every queued item. Lesson
// 006's WaitQueue carries only a wake-up; these waiters carry an item or a free slot.
//
// Every put, get and join posts its attempt to the coroutine's executor, even when it need not
// wait; a side effect is that a woken waiter is served before a newcomer (both wait their turn
// on the executor), where asyncio lets a newcomer that need not wait go first. Destroying the
// io_context while tasks wait destroys their handlers, and so their coroutine frames (lesson
// 006's waiter_service.hpp), as it does for a task waiting on a steady_timer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/system_error.hpp>
#include <asio/use_awaitable.hpp>

#include "waiter_service.hpp"  // lesson 006's: the io_context owns waiting handlers

namespace lesson010 {

/// try_get() on an empty queue (asyncio.QueueEmpty).
struct QueueEmpty : std::runtime_error {
  QueueEmpty() : std::runtime_error("queue is empty") {}
};
/// try_put() on a full queue (asyncio.QueueFull).
struct QueueFull : std::runtime_error {
  QueueFull() : std::runtime_error("queue is full") {}
};
/// put on a shut-down queue, or get on a shut-down queue that is empty (asyncio.QueueShutDown).
struct QueueShutDown : std::runtime_error {
  QueueShutDown() : std::runtime_error("queue is shut down") {}
};

// The order policies: which item leaves first. asyncio's subclasses override _put/_get the
// same way. Each is a container with push(), pop(), size(), empty() and clear().

/// First in, first out (asyncio.Queue).
template <typename T>
class Fifo {
 public:
  void push(T item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

 private:
  std::deque<T> items_;
};

/// Last in, first out (asyncio.LifoQueue).
template <typename T>
class Lifo {
 public:
  void push(T item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

 private:
  std::vector<T> items_;
};

/// Lowest first by `Less` (asyncio.PriorityQueue, a heapq min-heap). Like heapq, items that
/// compare equal leave in no particular order: put (priority, sequence number) pairs if you
/// need first-come-first-served within a priority.
template <typename T, typename Less = std::less<T>>
class LowestFirst {
 public:
  void push(T item) {
    items_.push_back(std::move(item));
    std::push_heap(items_.begin(), items_.end(), greater());
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), greater());  // the lowest moves to the back
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

 private:
  // std heaps keep the greatest on top; comparing the other way round keeps the lowest there.
  auto greater() const {
    return [less = less_](const T& a, const T& b) { return less(b, a); };
  }
  std::vector<T> items_;
  Less less_;
};

namespace machinery {

// A suspended put, get or join: the future asyncio keeps in _putters / _getters.
// Registered with its io_context (lesson006::ContextOwned) until it completes, so that
// destroying the io_context destroys a waiting handler, as it does a timer's.
struct Waiter : lesson006::ContextOwned {
  using ContextOwned::ContextOwned;
  // Called by a notifier that has just removed the waiter from its list: schedule a retry
  // on the waiter's executor. Never resumes the waiting coroutine inside the caller.
  virtual void wake() = 0;
};
using WaiterList = std::list<std::shared_ptr<Waiter>>;

// asyncio's _wakeup_next. Cancelled waiters leave their list at once, so the first one is
// always alive.
inline void wake_next(WaiterList& waiters) {
  if (waiters.empty()) return;
  auto first = std::move(waiters.front());
  waiters.pop_front();
  first->wake();
}
inline void wake_all(WaiterList& waiters) {
  WaiterList all = std::move(waiters);
  waiters.clear();
  for (auto& waiter : all) waiter->wake();
}

// Everything a queue owns. The waiters share it, so a queue destroyed while tasks wait on it
// leaves them something valid to find "shut down" in.
template <typename T, typename Order>
struct State {
  explicit State(std::size_t max) : maxsize(max) {}

  Order items;
  std::size_t maxsize;
  std::size_t unfinished = 0;  // items put and not yet task_done()
  bool shut_down = false;
  bool destroyed = false;
  WaiterList getters, putters, joiners;

  bool full() const { return maxsize > 0 && items.size() >= maxsize; }

  void put_now(T item) {
    if (shut_down) throw QueueShutDown();
    if (full()) throw QueueFull();
    items.push(std::move(item));
    ++unfinished;
    wake_next(getters);
  }
  T get_now() {
    if (items.empty()) {
      if (shut_down) throw QueueShutDown();
      throw QueueEmpty();
    }
    T item = items.pop();
    wake_next(putters);
    return item;
  }
  void task_done() {
    if (unfinished == 0) throw std::logic_error("task_done() called too many times");
    if (--unfinished == 0) wake_all(joiners);
  }
  void shutdown(bool immediate) {
    shut_down = true;
    if (immediate) {
      // The dropped items will never be processed: count them done, as asyncio does.
      unfinished -= std::min(unfinished, items.size());
      items.clear();
      if (unfinished == 0) wake_all(joiners);
    }
    wake_all(getters);  // each one re-checks: takes a queued item or fails
    wake_all(putters);  // each one fails with QueueShutDown
  }
  void destroy() {
    shutdown(true);
    destroyed = true;
    wake_all(joiners);
  }
};

enum class Kind { put, get, join };

// One put, get or join in progress. Created by async_initiate's initiation, owned by
// shared_ptrs: the wait list it sits in and the retry posted to its executor.
template <Kind kind, typename T, typename Order, typename Handler>
class Operation final : public Waiter,
                        public std::enable_shared_from_this<Operation<kind, T, Order, Handler>> {
 public:
  Operation(Handler handler, std::shared_ptr<State<T, Order>> state, std::optional<T> item)
      : Waiter(asio::get_associated_executor(handler)),
        handler_(std::move(handler)),
        work_(asio::make_work_guard(asio::get_associated_executor(handler_))),
        state_(std::move(state)),
        item_(std::move(item)) {}

  ~Operation() override {
    // Destroyed without completing: unhook from the cancellation slot, which must never
    // call into a destroyed operation.
    if (!finished_) asio::get_associated_cancellation_slot(handler_).clear();
  }

  void start() {
    auto slot = asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.template emplace<OnCancel>(this);
    schedule();  // even the first attempt runs later: the caller is never completed inline
  }

  void wake() override {
    if (!this->pending()) return;  // our io_context is gone, and our handler with it
    list_ = nullptr;  // the notifier took us out of the list
    woken_ = true;
    schedule();
  }

 private:
  void abandon() override {  // the io_context is being destroyed
    finished_ = true;
    work_.reset();  // no outstanding work left on the dying io_context
    asio::get_associated_cancellation_slot(handler_).clear();
    [[maybe_unused]] Handler doomed = std::move(handler_);  // dies on return, the frame too
  }

  struct OnCancel {
    explicit OnCancel(Operation* operation) : op(operation) {}
    void operator()(asio::cancellation_type type) const {
      if (type != asio::cancellation_type::none) op->cancel();
    }
    Operation* op;
  };

  void schedule() {
    asio::post(work_.get_executor(), [self = this->shared_from_this()] { self->attempt(); });
  }

  // Called synchronously by whoever emits the cancellation (one executor: no data race).
  void cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    if (list_) {  // still waiting: leave the list now, fail on the executor
      auto self = this->shared_from_this();  // the list held us: stay alive while we leave
      list_->erase(pos_);
      list_ = nullptr;
      schedule();
    }
    // Otherwise a retry is already posted; it sees cancelled_ and fails.
  }

  // Runs on the waiting coroutine's executor: the one place where an item or a free slot
  // changes hands, and the step that resumes the coroutine right after.
  void attempt() {
    const bool was_woken = std::exchange(woken_, false);
    State<T, Order>& q = *state_;
    if (cancelled_) {
      // Woken for an item (or a slot) but cancelled before running: hand the wake-up on,
      // so the item goes to the next getter instead of sitting unclaimed.
      if constexpr (kind == Kind::get)
        if (was_woken && !q.items.empty()) wake_next(q.getters);
      if constexpr (kind == Kind::put)
        if (was_woken && !q.full()) wake_next(q.putters);
      return fail(asio::system_error(asio::error::operation_aborted));
    }
    if constexpr (kind == Kind::get) {
      if (!q.items.empty()) return finish(std::exception_ptr(), q.get_now());
      if (q.shut_down) return fail(QueueShutDown());
      wait_in(q.getters);  // woken but the item was taken already: wait again, at the back
    } else if constexpr (kind == Kind::put) {
      if (q.shut_down) return fail(QueueShutDown());
      if (!q.full()) {
        q.put_now(std::move(*item_));
        return finish(std::exception_ptr());
      }
      wait_in(q.putters);
    } else {
      // Joiners are woken when the count reaches zero (asyncio's Event.set()), or when the
      // queue is destroyed.
      if (q.unfinished == 0 || (was_woken && !q.destroyed)) return finish(std::exception_ptr());
      if (q.destroyed) return fail(QueueShutDown());
      wait_in(q.joiners);
    }
  }

  void wait_in(WaiterList& list) {
    list_ = &list;
    pos_ = list.insert(list.end(), this->shared_from_this());
  }

  template <typename Error>
  void fail(Error error) {
    if constexpr (kind == Kind::get)
      finish(std::make_exception_ptr(std::move(error)), T());
    else
      finish(std::make_exception_ptr(std::move(error)));
  }

  // We run on the handler's executor, so we may call it directly; the coroutine resumes here.
  template <typename... Args>
  void finish(Args&&... args) {
    this->release();  // ours to call now, no longer the io_context's to destroy
    asio::get_associated_cancellation_slot(handler_).clear();
    finished_ = true;
    std::move(handler_)(std::forward<Args>(args)...);
  }

  Handler handler_;
  asio::executor_work_guard<asio::associated_executor_t<Handler>> work_;  // run() waits for us
  std::shared_ptr<State<T, Order>> state_;
  std::optional<T> item_;                 // what a put carries
  WaiterList* list_ = nullptr;            // the list we wait in, if any
  typename WaiterList::iterator pos_{};   // our place in it
  bool woken_ = false;                    // a notifier posted our retry
  bool cancelled_ = false;
  bool finished_ = false;
};

// put(), get() and join() as awaitable operations: async_initiate hands the coroutine's
// completion handler to an Operation, which completes it when the attempt succeeds or fails.
template <Kind kind, typename Signature, typename T, typename Order>
auto start(std::shared_ptr<State<T, Order>> state, std::optional<T> item = std::nullopt) {
  auto initiation = [](auto handler, std::shared_ptr<State<T, Order>> s, std::optional<T> i) {
    using Handler = decltype(handler);
    auto op = std::make_shared<Operation<kind, T, Order, Handler>>(std::move(handler),
                                                                   std::move(s), std::move(i));
    op->start();
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, Signature>(
      std::move(initiation), asio::use_awaitable, std::move(state), std::move(item));
}

}  // namespace machinery
}  // namespace lesson010
