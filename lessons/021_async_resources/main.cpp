// Lesson 021 demo: a scope that awaits its cleanup however it ends, an exit stack, and async
// iteration with a lazy generator and with a producer task behind a bounded channel.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "resources.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using namespace lesson021;

namespace {

// Each part restarts the clock so its times read from 0.
void part(const char* title) {
  fmt::print("\n== {} ==\n", title);
  std::fflush(stdout);
  tut::reset_clock();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// Awaits `work` and logs how it ended.
template <typename T>
asio::awaitable<void> report(const char* what, asio::awaitable<T> work) {
  try {
    T value = co_await std::move(work);
    if constexpr (std::is_same_v<T, std::string>)
      tut::log("main", "{} -> \"{}\"", what, value);
    else if constexpr (std::is_same_v<T, std::size_t>)
      tut::log("main", "{} -> {}", what, value);
    else
      tut::log("main", "{} -> [{}]", what, fmt::join(value, ", "));
  } catch (const std::exception&) {
    tut::log("main", "{} threw {}", what, describe(std::current_exception()));
  }
}

asio::awaitable<void> demo() {
  auto tracker = std::make_shared<Tracker>();  // 0.1 s per open, close and step

  // Each scenario restarts the clock: a timer may fire a little late, and long chains of
  // sleeps would add that up.
  part("1a. async with: the body returns");
  auto a = use_resource("a", Ending::returns, tracker);
  co_await report("use a", std::move(a));
  part("1b. async with: the body throws");
  auto b = use_resource("b", Ending::throws, tracker);
  co_await report("use b", std::move(b));
  part("1c. async with: the body is cancelled; the cleanup still awaits");
  {
    tut::log("main", "c waits for an hour, raced against a 0.2s timer");
    auto waits = use_resource("c", Ending::waits, tracker);
    auto timeout = sleep_for(200ms);
    co_await (std::move(waits) || std::move(timeout));  // the loser is cancelled and awaited
    tut::log("main", "the timer won: c was cancelled after its cleanup ran");
  }
  part("1d. async with: the cleanup itself fails");
  auto d = use_resource("d", Ending::returns, tracker, Fault::closing);
  co_await report("use d", std::move(d));
  tut::log("main", "open resources: {}", tracker->open);

  part("2a. AsyncExitStack: opened in order, closed in reverse");
  std::vector<Spec> three{{"db"}, {"cache"}, {"queue"}};
  auto all3 = open_all(three, tracker);
  co_await report("open_all", std::move(all3));
  part("2b. AsyncExitStack: opening the third fails, the first two are closed");
  three[2].fault = Fault::opening;
  auto fail3 = open_all(three, tracker);
  co_await report("open_all", std::move(fail3));
  tut::log("main", "open resources: {}", tracker->open);

  part("3a. async for over a lazy generator (asio::experimental::coro)");
  auto lazy3 = take_lazily(Count{3}, tracker);
  co_await report("take_lazily", std::move(lazy3));
  part("3b. the same, break after 2: the generator's frame is destroyed");
  auto lazy_break = take_lazily(Count{5, 2}, tracker);
  co_await report("take_lazily", std::move(lazy_break));
  part("3c. the generator fails at 2");
  auto lazy_fail = take_lazily(Count{3, 0, 2}, tracker);
  co_await report("take_lazily", std::move(lazy_fail));
  tut::log("main", "open resources: {}", tracker->open);

  part("4a. async for over a producer task and a channel of 2 (back-pressure)");
  auto stream5 = take_from_stream(2, Count{5}, tracker);
  co_await report("take_from_stream", std::move(stream5));
  part("4b. break after 2: aclose() cancels the producer and awaits its cleanup");
  auto stream_break = take_from_stream(2, Count{5, 2}, tracker);
  co_await report("take_from_stream", std::move(stream_break));
  part("4c. the producer fails at 3: the consumer gets 1, 2, then the error");
  auto stream_fail = take_from_stream(2, Count{5, 0, 3}, tracker);
  co_await report("take_from_stream", std::move(stream_fail));
  tut::log("main", "open resources: {}", tracker->open);
}

}  // namespace

int main() {
  tut::run(demo());
  return 0;
}
