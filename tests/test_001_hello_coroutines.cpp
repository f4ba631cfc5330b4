#include "hello.hpp"

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson001::say_after;
using lesson001::say_in_sequence;
using tut::test::run_within;

TEST_CASE("say_after returns its text once the delay has passed") {
  auto start = tut::clock::now();
  auto text = run_within(say_after(50ms, "hi"));
  CHECK(text == "hi");
  CHECK(tut::clock::now() - start >= 50ms);
}

TEST_CASE("a coroutine does nothing until it is awaited") {
  auto awaited_for = run_within([]() -> asio::awaitable<tut::clock::duration> {
    auto pending = say_after(100ms, "later");  // created, not started: no timer runs yet
    co_await say_after(150ms, "meanwhile");   // had it started, it would be finished now
    auto start = tut::clock::now();
    co_await std::move(pending);  // only now does its 100 ms begin
    co_return tut::clock::now() - start;
  }());
  CHECK(awaited_for >= 100ms);  // a full 100 ms: it did not run in the background
}

TEST_CASE("sequential awaits add up and keep their order") {
  auto start = tut::clock::now();
  std::vector<lesson001::Greeting> greetings{{30ms, "a"}, {20ms, "b"}, {10ms, "c"}};
  auto said = run_within(say_in_sequence(std::move(greetings)));
  CHECK(said == std::vector<std::string>{"a", "b", "c"});
  CHECK(tut::clock::now() - start >= 60ms);
}

TEST_CASE("an exception thrown in a coroutine reaches the one who runs it") {
  auto failing = []() -> asio::awaitable<int> {
    co_await say_after(1ms, "about to fail");
    throw std::runtime_error("boom");
  };
  REQUIRE_THROWS_AS(tut::run(failing()), std::runtime_error);
}
