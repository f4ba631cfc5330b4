// Tests of exercise 010.1 (exercise.cpp next to this file): they run square_all() on a real
// event loop until it has no work left, and give it a slow_square() that counts how many
// squares are computed at once.
#include <algorithm>
#include <chrono>
#include <vector>

#include <asio/awaitable.hpp>

#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {
int in_flight = 0;      // slow_square() calls running now
int max_in_flight = 0;  // the most at once
}  // namespace

namespace exercise {
asio::awaitable<int> slow_square(int n) {
  ++in_flight;
  max_in_flight = std::max(max_in_flight, in_flight);
  co_await tut::sleep(30ms);
  --in_flight;
  co_return n * n;
}
asio::awaitable<std::vector<int>> square_all(std::vector<int> numbers, int workers);
}  // namespace exercise

namespace {
// run_within() fails unless the coroutine returned *and* the event loop ran out of work:
// a worker still waiting in get() is work left.
std::vector<int> squares(std::vector<int> numbers, int workers) {
  in_flight = 0;
  max_in_flight = 0;
  return tut::test::run_within(exercise::square_all(std::move(numbers), workers), 2s);
}
}  // namespace

TEST_CASE("square_all squares every number, in the order given, and then the event loop ends") {
  INFO("if it says 'did not finish in time': square_all returned, but a worker still waits "
       "in get(), so the event loop had work left after 2 s");
  CHECK(squares({1, 2, 3, 4, 5, 6, 7, 8}, 3) == std::vector<int>{1, 4, 9, 16, 25, 36, 49, 64});
}

TEST_CASE("three workers compute three squares at once, never more") {
  INFO("if it says 'did not finish in time': a worker still waits in get() after the last job");
  squares({1, 2, 3, 4, 5, 6, 7, 8}, 3);
  INFO("at most " << max_in_flight << " slow_square() calls ran at once; expected 3");
  CHECK(max_in_flight == 3);
}

TEST_CASE("more workers than numbers, and no numbers at all") {
  INFO("if it says 'did not finish in time': a worker still waits in get() after the last job");
  CHECK(squares({5, 6}, 4) == std::vector<int>{25, 36});
  CHECK(squares({}, 2).empty());
}
