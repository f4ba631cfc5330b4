// Test support: letting the event loop turn, to order events with the loop itself instead of
// with sleeps (docs/writing-a-lesson.md, "Tests"). Not teaching code.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace tut::test {

/// Lets every task that is ready run, `turns` times over: each post puts the caller at the back
/// of the loop's queue, so everything posted before it runs before it returns.
inline asio::awaitable<void> let_others_run(int turns = 10) {
  auto executor = co_await asio::this_coro::executor;
  for (int i = 0; i < turns; ++i) co_await asio::post(executor, asio::use_awaitable);
}

/// One turn of the loop: everything posted before this call runs before it returns.
inline asio::awaitable<void> yield_once() {
  auto executor = co_await asio::this_coro::executor;
  co_await asio::post(executor, asio::use_awaitable);
}

}  // namespace tut::test
