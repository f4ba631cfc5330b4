// How it is built: the machinery behind lesson 010's queues, which you can skip at this lesson
// (queue.hpp says what a queue does). Here: the order policies (which item leaves first), and
// the shared state: the items, the unfinished count, and asyncio's _getters and _putters, which
// are lesson 006's WaitQueue (how_it_is_built there; lesson 018 teaches what it is made of).
// put(), get() and join() are coroutines shaped like CPython's: wait in the queue, then take
// the item or the free slot when the coroutine runs.
//
// A woken waiter only re-checks the queue: it takes the item when it runs, waits again at the
// back if someone else took it, and passes its wake-up on if it was cancelled meanwhile. So the
// WaitQueue that carries the Mutex's wake-ups carries the queue's too. A queue that hands the
// item to the waiter at the moment it wakes it has a trap: if the waiter loses a race with a
// timer before it runs, the item travels in the losing branch's result, which `||` throws
// away. Why not asio::experimental::channel: its close() leaves a pending sender waiting
// forever, and up to Asio 1.26 (Debian 12 has 1.22) also discards the buffered messages (lesson
// 019, pitfall 5); the lesson's channel demo ends its stream with an error code instead.
//
// A newcomer that need not wait is woken at once, but its completion is posted like any other,
// so a woken waiter is served before it, where asyncio lets such a newcomer go first.
// Destroying the io_context while tasks wait destroys their coroutine frames, as it does for a
// task waiting on a steady_timer: the WaitQueue sees to that (lesson 006).
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/use_awaitable.hpp>

#include "wait_queue.hpp"  // lesson 006's FIFO of suspended operations

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
// same way. Each names its container, `Items`, and pushes and pops on it.

/// First in, first out (asyncio.Queue); with `last_first`, last in, first out (LifoQueue).
template <typename T, bool last_first = false>
struct Fifo {
  using Items = std::deque<T>;
  static void push(Items& items, T item) { items.push_back(std::move(item)); }
  static T pop(Items& items) {
    T item = std::move(last_first ? items.back() : items.front());
    if (last_first)
      items.pop_back();
    else
      items.pop_front();
    return item;
  }
};
template <typename T>
using Lifo = Fifo<T, true>;

/// Lowest first by `Less` (asyncio.PriorityQueue, a heapq min-heap). Like heapq, items that
/// compare equal leave in no particular order: put (priority, sequence number) pairs if you
/// need first-come-first-served within a priority.
template <typename T, typename Less = std::less<T>>
struct LowestFirst {
  using Items = std::vector<T>;
  // std heaps keep the greatest on top; comparing the other way round keeps the lowest there.
  static bool greater(const T& a, const T& b) { return Less()(b, a); }
  static void push(Items& items, T item) {
    items.push_back(std::move(item));
    std::push_heap(items.begin(), items.end(), greater);
  }
  static T pop(Items& items) {
    std::pop_heap(items.begin(), items.end(), greater);  // the lowest moves to the back
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
};

namespace machinery {

// Everything a queue owns. Its put(), get() and join() coroutines share it, so a queue
// destroyed while tasks wait on it leaves them something valid to find "shut down" in.
template <typename T, typename Order>
struct State {
  explicit State(std::size_t max) : maxsize(max) {}

  typename Order::Items items;
  std::size_t maxsize;
  std::size_t unfinished = 0;  // items put and not yet task_done()
  bool shut_down = false;
  bool destroyed = false;
  // Our waits are all coroutines: each completes on its own coroutine's executor, so the
  // WaitQueues need no executor of their own.
  lesson006::WaitQueue getters{asio::any_io_executor(), [this](bool cancelled) {
    return resume(cancelled, getters, !items.empty());
  }};
  lesson006::WaitQueue putters{asio::any_io_executor(), [this](bool cancelled) {
    return resume(cancelled, putters, !full());
  }};
  lesson006::WaitQueue joiners{asio::any_io_executor()};

  bool full() const { return maxsize > 0 && items.size() >= maxsize; }

  void put_now(T item) {
    if (shut_down) throw QueueShutDown();
    if (full()) throw QueueFull();
    Order::push(items, std::move(item));
    ++unfinished;
    getters.wake(1);  // asyncio's _wakeup_next(self._getters)
  }
  T get_now() {
    if (items.empty()) {
      if (shut_down) throw QueueShutDown();
      throw QueueEmpty();
    }
    T item = Order::pop(items);
    putters.wake(1);
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

  // asyncio's get(): `while self.empty(): await getter`, then get_nowait().
  static asio::awaitable<T> get(std::shared_ptr<State> q) {
    for (;;) {
      auto ready = [s = q.get()] { return !s->items.empty() || s->shut_down; };
      co_await q->getters.async_wait(asio::use_awaitable, ready);
      if (!q->items.empty()) co_return q->get_now();
      if (q->shut_down) throw QueueShutDown();
      // Woken, but another task took the item first: wait again, at the back.
    }
  }

  // asyncio's put(): `while self.full(): await putter`, then put_nowait().
  static asio::awaitable<void> put(std::shared_ptr<State> q, T item) {
    for (;;) {
      auto ready = [s = q.get()] { return s->shut_down || !s->full(); };
      co_await q->putters.async_wait(asio::use_awaitable, ready);
      if (q->shut_down) throw QueueShutDown();
      if (!q->full()) break;
    }
    q->put_now(std::move(item));
  }

  // Joiners are woken when the count reaches zero (asyncio's Event.set()), or when the queue
  // is destroyed, which fails them if work is still unfinished: nobody can finish it now.
  static asio::awaitable<void> join(std::shared_ptr<State> q) {
    auto ready = [s = q.get()] { return s->unfinished == 0; };
    co_await q->joiners.async_wait(asio::use_awaitable, ready);
    if (q->destroyed && q->unfinished > 0) throw QueueShutDown();
  }

 private:
  static void wake_all(lesson006::WaitQueue& waiters) { waiters.wake(waiters.waiting()); }

  // A woken getter or putter resumes. Cancelled in between, it takes nothing and passes its
  // wake-up on if the item or the free slot is still there (asyncio: the _wakeup_next() in
  // get()'s and put()'s except clause), so nothing sits unclaimed.
  static std::error_code resume(bool cancelled, lesson006::WaitQueue& waiters, bool available) {
    if (!cancelled) return {};
    if (available) waiters.wake(1);
    return asio::error::operation_aborted;
  }
};

}  // namespace machinery
}  // namespace lesson010
