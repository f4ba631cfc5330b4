// Tests of exercise 008.1 (exercise.cpp next to this file): put() and take() on a real event
// loop, the test playing producers and consumer and looking at the buffer between steps.
#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "async_condition.hpp"
#include "async_mutex.hpp"
#include "run.hpp"
#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace exercise {
struct Buffer {
  Buffer(asio::any_io_executor executor, std::size_t size)
      : capacity(size), mutex(std::move(executor)), changed(mutex) {}
  std::size_t capacity;
  std::deque<int> items;
  lesson006::Mutex mutex;
  lesson008::Condition changed;
};
asio::awaitable<void> put(Buffer* buffer, int item);
asio::awaitable<int> take(Buffer* buffer);
}  // namespace exercise

namespace {
asio::awaitable<void> produce(exercise::Buffer* buffer, std::vector<int> items) {
  for (int item : items) co_await exercise::put(buffer, item);
}
}  // namespace

TEST_CASE("one producer, one consumer, capacity 2: every item, in order") {
  auto taken = tut::test::run_within([]() -> asio::awaitable<std::vector<int>> {
    auto executor = co_await asio::this_coro::executor;
    exercise::Buffer buffer(executor, 2);
    asio::co_spawn(executor, produce(&buffer, {1, 2, 3, 4, 5, 6}), tut::rethrow);
    std::vector<int> items;
    for (int i = 0; i < 6; ++i) {
      int item = co_await exercise::take(&buffer);
      items.push_back(item);
    }
    co_return items;
  }(), 5s);
  CHECK(taken == std::vector<int>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("two producers woken for one free slot: only one of them puts, the buffer never overfills") {
  auto report = tut::test::run_within([]() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    exercise::Buffer buffer(executor, 1);
    co_await exercise::put(&buffer, 0);  // full
    asio::co_spawn(executor, produce(&buffer, {1}), tut::rethrow);
    asio::co_spawn(executor, produce(&buffer, {2}), tut::rethrow);
    co_await tut::sleep(20ms);  // both producers now wait: the buffer is full
    int first = co_await exercise::take(&buffer);
    co_await tut::sleep(20ms);  // the woken producers run
    std::string seen = "took " + std::to_string(first) + ", then " +
                       std::to_string(buffer.items.size()) + " item(s) in a buffer of 1";
    // Empty it, so that every producer finishes either way.
    while (!buffer.items.empty() || buffer.changed.waiting() > 0) {
      auto taking = exercise::take(&buffer);
      co_await std::move(taking);
      co_await tut::sleep(5ms);
    }
    co_return seen;
  }(), 5s);
  INFO("capacity 1, full, two producers waiting; one take() frees one slot and notify_all() "
       "wakes both: only the first may put, the second must wait again");
  CHECK(report == "took 0, then 1 item(s) in a buffer of 1");
}
