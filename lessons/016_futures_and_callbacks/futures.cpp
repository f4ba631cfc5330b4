// Lesson 016: one timer wait completed with each kind of completion token (futures.hpp), one
// with_* function a style: compare them side by side.
#include "futures.hpp"

#include <thread>

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "compat.hpp"
#include "how_it_is_built.hpp"  // Timer, and wait_in_style(), which calls these
#include "log.hpp"

namespace lesson016 {

// 1. A callback: the lambda is the completion handler; run() calls it with the error_code.
WaitReport with_callback(asio::io_context& io, Timer timer) {
  WaitReport report;
  timer->async_wait([&report](std::error_code error) {
    report = {error, "the callback got the error_code"};
  });
  io.run();
  return report;
}

// 2. use_future, for a thread that is NOT running the loop: main blocks in get(), which throws
//    an error as std::system_error, while another thread runs io.run(). A shared_future declared
//    before the thread outlives the join: its result is released on this thread, not the loop's.
WaitReport with_use_future(asio::io_context& io, Timer timer) {
  std::shared_future<void> done = timer->async_wait(asio::use_future).share();
  std::jthread loop_thread([&io] { io.run(); });  // joins when it goes out of scope
  try {
    done.get();
    return {{}, "future.get() returned, on another thread than the loop"};
  } catch (const std::system_error& e) {
    return {e.code(), "future.get() threw system_error"};
  }
}

// 3. use_awaitable: co_await suspends until the wait completes; an error is thrown there.
asio::awaitable<WaitReport> with_use_awaitable(Timer timer) {
  try {
    co_await timer->async_wait(asio::use_awaitable);
    co_return WaitReport{{}, "co_await returned"};
  } catch (const std::system_error& e) {
    co_return WaitReport{e.code(), "co_await threw system_error"};
  }
}

// 4. deferred: an operation object, stored, passed around, composed with `|` and a
//    continuation, started only when called with a token. The continuation here turns
//    (error_code) into (WaitReport): the composed operation completes with it and cannot throw.
asio::awaitable<WaitReport> with_deferred(Timer timer) {
  auto wait = timer->async_wait(compat::deferred);  // nothing is waiting yet
  auto describe = compat::deferred([](std::error_code error) {
    return compat::deferred.values(WaitReport{error, "deferred op | continuation, then co_await"});
  });
  auto wait_and_describe = std::move(wait) | std::move(describe);  // still nothing runs
  WaitReport report = co_await std::move(wait_and_describe)(asio::use_awaitable);  // starts here
  co_return report;
}

// 5. as_tuple: the token adapter turns (error_code, ...) into one tuple: no exception at all,
//    the error is a value you must look at (like Go's `v, err :=`).
asio::awaitable<WaitReport> with_as_tuple(Timer timer) {
  auto token = compat::as_tuple(asio::use_awaitable);  // built outside the co_await (g++ 12)
  auto [error] = co_await timer->async_wait(token);
  co_return WaitReport{error, "co_await returned tuple(error_code)"};
}

// 6. redirect_error: the error_code goes into a variable of yours; co_await returns normally.
asio::awaitable<WaitReport> with_redirect_error(Timer timer) {
  std::error_code error;
  auto token = asio::redirect_error(asio::use_awaitable, error);
  co_await timer->async_wait(token);
  co_return WaitReport{error, "co_await returned, error_code redirected"};
}

// 7. experimental::use_promise: the operation starts at once (eager, like an asyncio Task)
//    and the promise holds its result until someone waits for it with any token (compat::
//    wait_for: promise.async_wait(token) up to Asio 1.24, promise(token) from 1.25). Destroying
//    a promise that is not done cancels the operation.
asio::awaitable<WaitReport> with_promise(Timer timer) {
  auto promise = timer->async_wait(asio::experimental::use_promise);  // already waiting
  try {
    co_await compat::wait_for(promise, asio::use_awaitable);
    co_return WaitReport{{}, "waiting on the promise returned"};
  } catch (const std::system_error& e) {
    co_return WaitReport{e.code(), "waiting on the promise threw system_error"};
  }
}

std::future_status block_inside_loop(milliseconds timer_delay, milliseconds block_for) {
  asio::io_context io;  // one thread runs it: this one
  asio::steady_timer timer(io, timer_delay);
  std::future<void> fired;
  std::future_status status{};
  asio::post(io, [&] {
    fired = timer.async_wait(asio::use_future);
    tut::log("loop", "a handler started a {} timer, then blocks in future.wait_for({})",
             tut::seconds(timer_delay), tut::seconds(block_for));
    // The mistake: waiting for the loop from inside the loop, whose only thread, the one that
    // would fire the timer, is stuck right here. get() would never return; wait_for() shows it.
    status = fired.wait_for(block_for);
    tut::log("loop", "wait_for returned {}: the timer was due, but nobody could fire it",
             status == std::future_status::timeout ? "timeout" : "ready");
  });
  io.run();  // once the handler returns, the loop fires the overdue timer at once
  fired.get();
  tut::log("loop", "the handler returned, the loop fired the timer: the future is ready");
  return status;
}

}  // namespace lesson016
