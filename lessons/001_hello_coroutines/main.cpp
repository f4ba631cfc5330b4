// Lesson 001 demo: run a coroutine on an io_context, and watch sequential awaits add up.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/core.h>

#include "hello.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;

// "0.1s + 0.2s = 0.3s": what awaiting these greetings one after the other should take,
// worked out from their delays (the log's time stamps show what it really took).
std::string sum_of_delays(const std::vector<lesson001::Greeting>& greetings) {
  std::string sum;
  std::chrono::milliseconds total{0};
  for (auto& greeting : greetings) {
    sum += (sum.empty() ? "" : " + ") + tut::seconds(greeting.delay);
    total += greeting.delay;
  }
  return sum + " = " + tut::seconds(total);
}

asio::awaitable<void> demo() {
  tut::log("main", "started");

  // Calling a coroutine function only creates it, like calling an async def without await.
  auto pending = lesson001::say_after(100ms, "lazy");
  tut::log("main", "created a coroutine; it has not run yet");
  co_await std::move(pending);  // now it runs to completion

  // Built before the co_await: g++ 12 miscompiles braced temporaries inside a co_await.
  std::vector<lesson001::Greeting> greetings{{100ms, "hello"}, {200ms, "world"}};
  auto delays = sum_of_delays(greetings);  // from the list itself: true whatever you change
  auto said = co_await lesson001::say_in_sequence(std::move(greetings));
  tut::log("main", "said {} things: {}, awaits in a row add up", said.size(), delays);
}

int main() {
  // asyncio.run(demo()) spelled out: make the event loop, schedule the coroutine on it, and
  // run the loop until no work is left. tut::run(demo()) does exactly this (common/run.hpp);
  // later lessons use it.
  asio::io_context io_context;
  asio::co_spawn(io_context, demo(), tut::rethrow);
  io_context.run();
  fmt::print("io_context.run() returned: no work left\n");
}
