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
// - put() waits while the queue is full, get() while it is empty. A put, a get or a shutdown
//   only *wakes* the first waiter; the woken task takes the item (or the free slot) when it
//   runs, waits again at the back if someone else took it, and passes the wake-up on if it
//   was cancelled meanwhile: no item and no wake-up is ever lost.
// - Every successful put counts one unfinished task; task_done() counts one down (one too
//   many throws std::logic_error, asyncio: ValueError); join() waits until the count is zero.
// - shutdown(): puts throw QueueShutDown from now on; gets still return what is queued, then
//   throw QueueShutDown; blocked putters and getters are woken with it. shutdown(true) also
//   drops the queued items and counts them done (join() returns if the count reaches zero).
//
// Where C++ differs (progression.md has the full list): a cancelled put/get/join (its
// cancellation slot, or losing `a || b`) throws asio::system_error(operation_aborted) having
// done nothing; put(), get() and join() always suspend once, so an item changes hands only in
// the step that resumes the coroutine and `q.get() || timer` cannot lose one; put() takes its
// item by value; maxsize 0 means unbounded. Destroying the queue is shutdown(true) (a waiting
// join() fails too). Not thread-safe, like asyncio.Queue: one single-threaded io_context, or
// one strand.
//
// How it is built (the waiters are lesson 006's WaitQueue; why not asio::experimental::channel):
// how_it_is_built.hpp, which you can skip at this lesson.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include <asio/awaitable.hpp>

#include "how_it_is_built.hpp"  // the errors, the order policies and the machinery

namespace lesson010 {

/// A queue for coroutines on one executor, with asyncio.Queue's semantics (see the top of
/// this file). `Order` decides which item get() returns: Fifo, Lifo or LowestFirst.
template <typename T, typename Order = Fifo<T>>
class BasicQueue {
 public:
  /// maxsize 0: unbounded, put() never waits.
  explicit BasicQueue(std::size_t maxsize = 0) : state_(std::make_shared<State>(maxsize)) {}

  /// Destroying the queue is shutdown(true): no task waits forever on a queue that is gone.
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
  asio::awaitable<void> put(T item) { return State::put(state_, std::move(item)); }

  /// Removes and returns the next item, waiting while the queue is empty. Throws
  /// QueueShutDown once the queue is shut down and empty, asio::system_error
  /// (operation_aborted) if cancelled; then no item was taken.
  asio::awaitable<T> get() { return State::get(state_); }

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
  asio::awaitable<void> join() { return State::join(state_); }

  /// Shuts the queue down (see the top of this file). Calling it again is harmless.
  void shutdown(bool immediate = false) { state_->shutdown(immediate); }

 private:
  using State = machinery::State<T, Order>;
  std::shared_ptr<State> state_;  // shared with the waiters, which may outlive the queue
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
