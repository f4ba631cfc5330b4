// Tests of exercise 014.1 (exercise.cpp next to this file): ask() runs on a real event loop
// against a stand-in backend whose answers take 20 ms, 2 s, or fail at once.
#include <chrono>
#include <stdexcept>
#include <string>

#include <asio/awaitable.hpp>

#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace exercise {
asio::awaitable<std::string> request(std::string question) {
  if (question == "broken") throw std::runtime_error("backend down");
  co_await tut::sleep(question == "slow" ? 2000ms : 20ms);
  co_return "answer to " + question;
}
asio::awaitable<std::string> ask(std::string question, std::chrono::milliseconds limit);
}  // namespace exercise

namespace {
long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}
}  // namespace

TEST_CASE("a fast answer comes back") {
  std::string answer = tut::test::run_within(exercise::ask("fast", 500ms), 5s);
  CHECK(answer == "answer to fast");
}

TEST_CASE("a slow answer is given up on at the limit: the fallback, after about 100 ms") {
  auto start = Clock::now();
  std::string answer = tut::test::run_within(exercise::ask("slow", 100ms), 5s);
  CHECK(answer == "no answer in time");
  CHECK(ms_since(start) < 1500);
}

TEST_CASE("a failing backend's own error comes out of ask(), at once, not a timeout") {
  auto start = Clock::now();
  std::string outcome;
  try {
    std::string answer = tut::test::run_within(exercise::ask("broken", 1000ms), 5s);
    outcome = "the answer \"" + answer + "\"";
  } catch (const std::runtime_error& error) {
    outcome = std::string("the exception \"") + error.what() + "\"";
  }
  auto took = ms_since(start);
  INFO("ask(\"broken\", 1000ms) ended with " << outcome << " after " << took
       << " ms; expected the exception \"backend down\", at once (well before the 1000 ms limit)");
  CHECK(outcome == "the exception \"backend down\"");
  CHECK(took < 500);
}
