// Lesson 016: async_lookup() (legacy.hpp) used with three completion tokens.
#include "legacy.hpp"

#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

namespace lesson016 {

namespace {
// Parameters by value (a pointer to the directory, which outlives the io_context run).
asio::awaitable<Answer> lookup_awaiting(LegacyDirectory* directory, std::string name) {
  auto executor = co_await asio::this_coro::executor;
  Answer answer{"use_awaitable", {}, 0};
  try {
    answer.value = co_await async_lookup(executor, *directory, name, asio::use_awaitable);
  } catch (const std::system_error& e) {
    answer.error = e.code();
  }
  co_return answer;
}
}  // namespace

std::vector<Answer> lookup_three_ways(LegacyDirectory& directory, std::string name) {
  asio::io_context io;
  std::vector<Answer> answers;

  // 1. A callback. run() returns only after it ran: the wrapper's work guard kept it waiting.
  async_lookup(io.get_executor(), directory, name, [&](std::error_code error, int value) {
    answers.push_back({"callback", error, value});
  });
  io.run();
  io.restart();

  // 2. use_future: the loop runs on another thread, this one blocks in get(). A shared_future
  // declared before the thread, so its result (or exception) is released here, after the join.
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
  io.restart();

  // 3. use_awaitable, in a coroutine.
  auto awaited = asio::co_spawn(io, lookup_awaiting(&directory, name), asio::use_future);
  io.run();
  answers.push_back(awaited.get());
  return answers;
}

}  // namespace lesson016
