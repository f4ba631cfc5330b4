// Lesson 010: queues. asyncio.Queue, PriorityQueue and LifoQueue for Asio coroutines.
//
//   asyncio                              this lesson
//   q = asyncio.Queue(maxsize=2)         lesson010::Queue<Job> q{2};
//   await q.put(x) / await q.get()       co_await q.put(x) / co_await q.get()
//   q.put_nowait(x) / q.get_nowait()     q.try_put(x) / q.try_get()
//   QueueFull / QueueEmpty               lesson010::QueueFull / lesson010::QueueEmpty
//   q.task_done() / await q.join()       q.task_done() / co_await q.join()
//   q.shutdown(immediate=False)          q.shutdown() / q.shutdown(true)
//   QueueShutDown                        lesson010::QueueShutDown
//   qsize() / empty() / full() / maxsize size() / empty() / full() / maxsize()
//   PriorityQueue / LifoQueue            PriorityQueue<T> / LifoQueue<T>
//
// The semantics follow CPython 3.13's Lib/asyncio/queues.py point by point:
// - put() waits while the queue is full, get() waits while it is empty. A notifier (a put, a
//   get, shutdown) only *wakes* the first waiter; the woken task takes the item (or the free
//   slot) when it actually resumes. If it finds nothing (someone else took it) it waits again
//   at the back, and if it was cancelled in between it passes the wake-up to the next waiter:
//   no item and no wake-up is ever lost.
// - try_put() on a full queue throws QueueFull, try_get() on an empty one QueueEmpty.
// - Every successful put counts one unfinished task; task_done() counts one down and throws
//   std::logic_error (asyncio: ValueError) when called more often than items were put; join()
//   waits until the count is zero.
// - shutdown(): put and try_put throw QueueShutDown from now on and blocked putters are woken
//   with it; get and try_get still return what is queued and throw QueueShutDown once the queue
//   is empty, so blocked getters (the queue is empty, or they would not be blocked) fail at
//   once. shutdown(true): the queued items are dropped and the unfinished count goes down by
//   as many (join() returns if it reaches zero), then every blocked getter and putter fails.
//
// Where C++ differs, and why:
// - Cancellation is Asio's: a waiting put/get/join is cancelled through the coroutine's
//   cancellation slot (or as the loser of `a || b`) and throws asio::system_error
//   (operation_aborted), asyncio's CancelledError. Terminal, partial and total cancellation
//   are all honoured: a cancelled operation has done nothing.
// - put(), get() and join() always suspend once, even when they need not wait: the attempt is
//   posted to the coroutine's executor and decided only when it runs. So an item changes
//   hands only in the same step that resumes the coroutine, never while a completion is in
//   flight, and `q.get() || timer` cannot lose an item (asyncio's put/get return at once).
//   A side effect: a woken waiter is served before a newcomer (both wait their turn on the
//   executor), where asyncio lets a newcomer that need not wait go first.
// - put() takes its item by value: a put that fails or is cancelled destroys it (in asyncio the
//   caller still holds a reference). Keep a copy if you need it back.
// - T must be movable and default-constructible: a failed get() still completes with a T,
//   as co_spawn does.
// - maxsize is a std::size_t: 0 means unbounded (asyncio: any maxsize <= 0).
// - Lifetime, the rule asio::steady_timer follows (every primitive of Part II): destroying the
//   queue is shutdown(true), so every waiter not resumed yet fails with QueueShutDown, even
//   one a put already woke (a join() too: nobody can call task_done() on a queue that is
//   gone). asyncio's garbage collector keeps a queue alive while someone awaits it; here the
//   waiters keep its state alive. Destroying the io_context while tasks wait destroys their
//   coroutine frames (lesson 006's waiter_service.hpp).
//
// Threading contract: like asyncio.Queue, the queue is not thread-safe. Use it from one
// executor: every coroutine that touches it runs on the same single-threaded io_context, or
// on the same strand of a multi-threaded one. Wake-ups are posted to the waiting coroutine's
// own executor (its strand, if it runs on one), never run inside the notifier's call.
//
// Why not asio::experimental::channel? Its close() leaves a pending sender waiting forever,
// and up to Asio 1.26 (Debian 12 has 1.22) also discards the buffered messages: a task hung,
// items lost (lesson 019, pitfall 5). And any
// queue that hands an item to a waiter at the moment it wakes it has a second trap: if the
// waiter loses a race with a timer before it runs, the item travels in the losing branch's
// result, which `||` throws away. So this queue keeps its own lists of waiters (asyncio's
// _getters and _putters): shutdown wakes every waiter with a clear error and never drops an
// item a graceful shutdown should hand out, and a woken getter takes its item only when it
// runs and has not been cancelled. Whatever it is built on, no item is lost and no task hangs.
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

/// A queue for coroutines on one executor, with asyncio.Queue's semantics (see the top of
/// this file). `Order` decides which item get() returns: Fifo, Lifo or LowestFirst.
template <typename T, typename Order = Fifo<T>>
class BasicQueue {
 public:
  /// maxsize 0: unbounded, put() never waits.
  explicit BasicQueue(std::size_t maxsize = 0) : state_(std::make_shared<State>(maxsize)) {}

  /// Destroying the queue shuts it down immediately: no task waits forever on a queue that no
  /// longer exists (blocked put/get/join fail with QueueShutDown).
  ~BasicQueue() { state_->destroy(); }

  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  std::size_t maxsize() const { return state_->maxsize; }
  /// Number of items queued now (asyncio: qsize()).
  std::size_t size() const { return state_->items.size(); }
  bool empty() const { return state_->items.empty(); }
  /// True if maxsize items are queued; never for an unbounded queue.
  bool full() const { return state_->full(); }
  bool is_shut_down() const { return state_->shut_down; }

  /// Puts `item` in, waiting while the queue is full. Throws QueueShutDown if the queue is
  /// (or gets) shut down, asio::system_error(operation_aborted) if cancelled; either way the
  /// item was not put.
  asio::awaitable<void> put(T item) {
    auto initiation = [state = state_](auto handler, T value) {
      start<Kind::put>(std::move(handler), std::move(state), std::move(value));
    };
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
        std::move(initiation), asio::use_awaitable, std::move(item));
  }

  /// Removes and returns the next item, waiting while the queue is empty. Throws
  /// QueueShutDown once the queue is shut down and empty, asio::system_error
  /// (operation_aborted) if cancelled; then no item was taken.
  asio::awaitable<T> get() {
    auto initiation = [state = state_](auto handler) {
      start<Kind::get>(std::move(handler), std::move(state));
    };
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, T)>(
        std::move(initiation), asio::use_awaitable);
  }

  /// Puts `item` in without waiting (asyncio: put_nowait). Throws QueueShutDown if shut down,
  /// QueueFull if full. Wakes the first waiting getter (it runs later, not inside this call).
  void try_put(T item) { state_->put_now(std::move(item)); }

  /// Takes the next item without waiting (asyncio: get_nowait). Throws QueueEmpty if empty,
  /// or QueueShutDown if empty and shut down. Wakes the first waiting putter.
  T try_get() { return state_->get_now(); }

  /// Marks one item taken from the queue as processed. Throws std::logic_error if called more
  /// often than items were put (asyncio: ValueError).
  void task_done() { state_->task_done(); }

  /// Waits until every item put has been marked done with task_done().
  asio::awaitable<void> join() {
    auto initiation = [state = state_](auto handler) {
      start<Kind::join>(std::move(handler), std::move(state));
    };
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr)>(
        std::move(initiation), asio::use_awaitable);
  }

  /// Shuts the queue down (see the top of this file). Calling it again is harmless.
  void shutdown(bool immediate = false) { state_->shutdown(immediate); }

 private:
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

  // Everything the queue owns. The waiters share it, so a queue destroyed while tasks wait on
  // it leaves them something valid to find "shut down" in.
  struct State {
    explicit State(std::size_t max) : maxsize(max) {}

    Order items;
    std::size_t maxsize;
    std::size_t unfinished = 0;  // items put and not yet task_done()
    bool shut_down = false;
    bool destroyed = false;
    WaiterList getters, putters, joiners;

    bool full() const { return maxsize > 0 && items.size() >= maxsize; }

    // asyncio's _wakeup_next. Cancelled waiters leave their list at once, so the first one
    // is always alive.
    static void wake_next(WaiterList& waiters) {
      if (waiters.empty()) return;
      auto first = std::move(waiters.front());
      waiters.pop_front();
      first->wake();
    }
    static void wake_all(WaiterList& waiters) {
      WaiterList all = std::move(waiters);
      waiters.clear();
      for (auto& waiter : all) waiter->wake();
    }

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
  template <Kind kind, typename Handler>
  class Operation final : public Waiter,
                          public std::enable_shared_from_this<Operation<kind, Handler>> {
   public:
    Operation(Handler handler, std::shared_ptr<State> state, std::optional<T> item)
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
      State& q = *state_;
      if (cancelled_) {
        // Woken for an item (or a slot) but cancelled before running: hand the wake-up on,
        // so the item goes to the next getter instead of sitting unclaimed.
        if constexpr (kind == Kind::get)
          if (was_woken && !q.items.empty()) State::wake_next(q.getters);
        if constexpr (kind == Kind::put)
          if (was_woken && !q.full()) State::wake_next(q.putters);
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
    std::shared_ptr<State> state_;
    std::optional<T> item_;                 // what a put carries
    WaiterList* list_ = nullptr;            // the list we wait in, if any
    typename WaiterList::iterator pos_{};   // our place in it
    bool woken_ = false;                    // a notifier posted our retry
    bool cancelled_ = false;
    bool finished_ = false;
  };

  template <Kind kind, typename Handler>
  static void start(Handler handler, std::shared_ptr<State> state,
                    std::optional<T> item = std::nullopt) {
    auto op = std::make_shared<Operation<kind, Handler>>(std::move(handler), std::move(state),
                                                         std::move(item));
    op->start();
  }

  std::shared_ptr<State> state_;
};

/// asyncio.Queue: first in, first out.
template <typename T>
using Queue = BasicQueue<T, Fifo<T>>;
/// asyncio.LifoQueue: last in, first out.
template <typename T>
using LifoQueue = BasicQueue<T, Lifo<T>>;
/// asyncio.PriorityQueue: lowest first (by operator<).
template <typename T, typename Less = std::less<T>>
using PriorityQueue = BasicQueue<T, LowestFirst<T, Less>>;

}  // namespace lesson010
