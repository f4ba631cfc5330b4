// run(): the asyncio.run() of this tutorial, and rethrow: the completion handler to use
// instead of asio::detached.
#pragma once

#include <exception>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

namespace tut {

/// Runs `main_coroutine` on a fresh io_context until all work is done, then returns the
/// coroutine's value or rethrows its exception, like asyncio.run(main()).
/// One difference from asyncio.run: tasks the coroutine spawned and left running are not
/// cancelled when it returns; run() waits for them, because io_context::run() returns only
/// when no work is left.
template <typename T>
T run(asio::awaitable<T> main_coroutine) {
  asio::io_context context;
  auto result = asio::co_spawn(context, std::move(main_coroutine), asio::use_future);
  context.run();
  return result.get();
}

/// Completion handler for co_spawn that lets no exception disappear: it rethrows it out of
/// io_context::run(), where the program (or a test) sees it. asio::detached would swallow it
/// silently (lesson 002 shows both). Use it for tasks whose result nobody awaits:
///   asio::co_spawn(executor, background_task(), tut::rethrow);
inline constexpr auto rethrow = [](std::exception_ptr error, auto&&...) {
  if (error) std::rethrow_exception(error);
};

}  // namespace tut
