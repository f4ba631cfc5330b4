// Exercise 008.1: a bounded buffer that overfills (lesson 008, conditions).
// put() adds an item, waiting while the buffer is full; take() removes the oldest, waiting
// while it is empty. One lesson008::Condition, notified with notify_all() after every change,
// wakes everyone who waits, producers and consumers alike. take() is right. put() checks
// "full?" with an `if`: when a take() frees one slot and wakes two waiting producers, both go
// on, and the buffer holds more than its capacity. Make put() wait until there is room.
// Check it: ./tutorial exercise check 008.1   (stuck? ./tutorial exercise hint 008.1)
#include <cstddef>
#include <deque>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_condition.hpp"  // lesson008::Condition: wait(), wait_for(predicate), notify_all()
#include "async_mutex.hpp"      // lesson006::Mutex: auto guard = co_await mutex.lock();

namespace exercise {

struct Buffer {
  Buffer(asio::any_io_executor executor, std::size_t size)
      : capacity(size), mutex(std::move(executor)), changed(mutex) {}
  std::size_t capacity;
  std::deque<int> items;     // guarded by mutex
  lesson006::Mutex mutex;
  lesson008::Condition changed;  // notified after every put() and every take()
};

/// Adds `item` once the buffer has room for it.
asio::awaitable<void> put(Buffer* buffer, int item) {
  auto guard = co_await buffer->mutex.lock();
  // TODO: a wake-up says "something changed", not "there is room now": another producer
  // woken by the same notify_all() may have taken the free slot first. Re-check after every
  // wake-up, as take() does below.
  if (buffer->items.size() >= buffer->capacity) co_await buffer->changed.wait();
  buffer->items.push_back(item);
  buffer->changed.notify_all();
}

/// Removes and returns the oldest item, once there is one.
asio::awaitable<int> take(Buffer* buffer) {
  auto guard = co_await buffer->mutex.lock();
  while (buffer->items.empty()) co_await buffer->changed.wait();  // re-checked after each wake
  int item = buffer->items.front();
  buffer->items.pop_front();
  buffer->changed.notify_all();
  co_return item;
}

}  // namespace exercise
