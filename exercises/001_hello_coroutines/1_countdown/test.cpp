// Tests of exercise 001.1 (exercise.cpp next to this file): they call countdown() for real.
#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "test_support.hpp"

namespace exercise {
asio::awaitable<std::vector<std::string>> countdown(int from, std::chrono::milliseconds step);
}

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {
long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}
}  // namespace

TEST_CASE("countdown(3, 50ms) says 3, 2, 1, liftoff") {
  auto said = tut::test::run_within(exercise::countdown(3, 50ms), 5s);
  CHECK(said == std::vector<std::string>{"3", "2", "1", "liftoff"});
}

TEST_CASE("countdown(3, 50ms) waits 50 ms before each of its 4 words: at least 200 ms") {
  auto start = Clock::now();
  tut::test::run_within(exercise::countdown(3, 50ms), 5s);
  auto took = ms_since(start);
  INFO("countdown(3, 50ms) returned after " << took << " ms; expected at least 200 ms. "
       "A coroutine that is created but never co_awaited never runs, so it never waits.");
  CHECK(took >= 200);
}

TEST_CASE("countdown(0, 100ms) says only liftoff, after 100 ms") {
  auto start = Clock::now();
  auto said = tut::test::run_within(exercise::countdown(0, 100ms), 5s);
  auto took = ms_since(start);
  CHECK(said == std::vector<std::string>{"liftoff"});
  INFO("returned after " << took << " ms; expected at least 100 ms");
  CHECK(took >= 100);
}
