// Lesson 021 demo: a scope that awaits its cleanup however it ends, an exit stack, and async
// iteration with a lazy generator and with a producer task behind a bounded channel.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "demo.hpp"
#include "log.hpp"
#include "resources.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using namespace lesson021;

namespace {

// Prints the part's title and restarts the clock, so its times read from 0 (a timer may fire
// a little late, and a long chain of sleeps would add that up); then awaits `work` and logs
// how it ended.
template <typename T>
asio::awaitable<void> part(const char* title, const char* what, asio::awaitable<T> work) {
  tut::part(title);
  try {
    T value = co_await std::move(work);
    tut::log("main", "{} -> {}", what, value);
  } catch (const std::exception&) {
    tut::log("main", "{} threw {}", what, describe(std::current_exception()));
  }
}

asio::awaitable<void> demo() {
  auto tracker = std::make_shared<Tracker>();  // 0.1 s per open, close and step
  auto count_open = [tracker] { tut::log("main", "open resources: {}", tracker->open); };

  auto a = part("1a. async with: the body returns", "use a",
                use_resource("a", Ending::returns, tracker));
  co_await std::move(a);
  auto b = part("1b. async with: the body throws", "use b",
                use_resource("b", Ending::throws, tracker));
  co_await std::move(b);
  // asyncio.timeout (lesson 014): at 0.2 s it cancels the body, waits for it, then throws.
  auto c = part("1c. async with: the body is cancelled; the cleanup still awaits",
                "use c under a 0.2s timeout",
                lesson014::with_timeout(use_resource("c", Ending::waits, tracker), 200ms));
  co_await std::move(c);
  auto d = part("1d. async with: the cleanup itself fails", "use d",
                use_resource("d", Ending::returns, tracker, Fault::closing));
  co_await std::move(d);
  count_open();

  std::vector<Spec> three{{"db"}, {"cache"}, {"queue"}};
  auto all3 = part("2a. AsyncExitStack: opened in order, closed in reverse", "open_all",
                   open_all(three, tracker));
  co_await std::move(all3);
  three[2].fault = Fault::opening;
  auto fail3 = part("2b. AsyncExitStack: opening the third fails, the first two are closed",
                    "open_all", open_all(three, tracker));
  co_await std::move(fail3);
  count_open();

  auto lazy = part("3a. async for over a lazy generator (asio::experimental::coro)",
                   "take_lazily", take_lazily(Count{3}, tracker));
  co_await std::move(lazy);
  auto lazy_break = part("3b. the same, break after 2: the generator's frame is destroyed",
                         "take_lazily", take_lazily(Count{5, 2}, tracker));
  co_await std::move(lazy_break);
  auto lazy_fail = part("3c. the generator fails at 2", "take_lazily",
                        take_lazily(Count{3, 0, 2}, tracker));
  co_await std::move(lazy_fail);
  count_open();

  auto stream = part("4a. async for over a producer task and a channel of 2 (back-pressure)",
                     "take_from_stream", take_from_stream(2, Count{5}, tracker));
  co_await std::move(stream);
  auto stream_break =
      part("4b. break after 2: aclose() cancels the producer and awaits its cleanup",
           "take_from_stream", take_from_stream(2, Count{5, 2}, tracker));
  co_await std::move(stream_break);
  auto stream_fail = part("4c. the producer fails at 3: the consumer gets 1, 2, then the error",
                          "take_from_stream", take_from_stream(2, Count{5, 0, 3}, tracker));
  co_await std::move(stream_fail);
  count_open();
}

}  // namespace

int main() {
  tut::run(demo());
  return 0;
}
