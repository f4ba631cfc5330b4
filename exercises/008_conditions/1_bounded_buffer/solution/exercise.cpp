// Exercise 008.1, a solution: put() re-checks "full?" after every wake-up (wait_for does the
// loop), so of two producers woken for one free slot, the second waits again.
#include <cstddef>
#include <deque>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_condition.hpp"
#include "async_mutex.hpp"

namespace exercise {

struct Buffer {
  Buffer(asio::any_io_executor executor, std::size_t size)
      : capacity(size), mutex(std::move(executor)), changed(mutex) {}
  std::size_t capacity;
  std::deque<int> items;
  lesson006::Mutex mutex;
  lesson008::Condition changed;
};

asio::awaitable<void> put(Buffer* buffer, int item) {
  auto guard = co_await buffer->mutex.lock();
  auto has_room = [buffer] { return buffer->items.size() < buffer->capacity; };
  co_await buffer->changed.wait_for(has_room);  // same as: while (!has_room()) wait();
  buffer->items.push_back(item);
  buffer->changed.notify_all();
}

asio::awaitable<int> take(Buffer* buffer) {
  auto guard = co_await buffer->mutex.lock();
  while (buffer->items.empty()) co_await buffer->changed.wait();
  int item = buffer->items.front();
  buffer->items.pop_front();
  buffer->changed.notify_all();
  co_return item;
}

}  // namespace exercise
