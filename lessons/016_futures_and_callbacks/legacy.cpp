// Lesson 016: async_lookup() (legacy.hpp) used with three completion tokens.
#include "legacy.hpp"

#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "run.hpp"

namespace lesson016 {

std::vector<Answer> lookup_three_ways(LegacyDirectory& directory, std::string name) {
  asio::io_context io;
  std::vector<Answer> answers;

  // 1. A callback. run() returns only after it ran: the wrapper's work guard kept it waiting.
  async_lookup(io.get_executor(), directory, name, [&](std::error_code error, int value) {
    answers.push_back({"callback", error, value});
  });
  io.run();
  io.restart();

  // 2. use_future: get() here while another thread runs the loop, as in with_use_future.
  std::shared_future<int> number =
      async_lookup(io.get_executor(), directory, name, asio::use_future).share();
  {
    std::jthread loop_thread([&io] { io.run(); });
    try {
      answers.push_back({"use_future", {}, number.get()});
    } catch (const std::system_error& e) {
      answers.push_back({"use_future", e.code(), 0});
    }
  }

  // 3. use_awaitable, in a coroutine: an error is thrown at the co_await. Parameters by value
  // (a pointer to the directory, which outlives the run).
  auto lookup = [](LegacyDirectory* dir, std::string key) -> asio::awaitable<Answer> {
    auto executor = co_await asio::this_coro::executor;
    try {
      int value = co_await async_lookup(executor, *dir, key, asio::use_awaitable);
      co_return Answer{"use_awaitable", {}, value};
    } catch (const std::system_error& e) {
      co_return Answer{"use_awaitable", e.code(), 0};
    }
  };
  answers.push_back(tut::run(lookup(&directory, name)));
  return answers;
}

}  // namespace lesson016
