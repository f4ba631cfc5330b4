// Lesson 001: hello, coroutines.
//
// A function that returns asio::awaitable<T> and uses co_await is a coroutine: Asio's
// `async def`. Calling it runs nothing yet; it runs when it is co_awaited (or co_spawned),
// and each co_await on an operation suspends it so the io_context (Asio's event loop) can run
// other work until the operation completes.
#include "hello.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace lesson001 {

// Parameters are taken by value: a coroutine outlives the caller's expression, so a
// reference parameter could dangle after the first suspension (lesson 019 shows the crash).
asio::awaitable<std::string> say_after(milliseconds delay, std::string text) {
  // A coroutine finds the executor (the io_context) it runs on, like asyncio.get_running_loop().
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, delay);
  // asyncio.sleep(delay): suspend here; the io_context resumes us when the timer expires.
  co_await timer.async_wait(asio::use_awaitable);
  tut::log("say_after", "{}", text);
  co_return text;
}

asio::awaitable<std::vector<std::string>> say_in_sequence(std::vector<Greeting> greetings) {
  std::vector<std::string> said;
  for (auto& greeting : greetings) {
    // Each co_await finishes before the next starts: nothing overlaps here.
    said.push_back(co_await say_after(greeting.delay, greeting.text));
  }
  co_return said;
}

}  // namespace lesson001
