// Lesson 016: one timer wait, completed with each kind of completion token (see futures.hpp).
// Each with_* function below is one style: compare them side by side.
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

// 2. use_future: async_wait returns a std::future<void>. It is for a thread that is NOT
//    running the loop: here main blocks in get() while another thread runs io.run().
//    An error arrives as a std::system_error thrown by get().
WaitReport with_use_future(asio::io_context& io, Timer timer) {
  // shared_future, declared before the thread: it outlives the join, so the result (and the
  // exception in it) is released on this thread, not on the loop's.
  std::shared_future<void> done = timer->async_wait(asio::use_future).share();
  std::jthread loop_thread([&io] { io.run(); });  // joins when it goes out of scope
  try {
    done.get();
    return {{}, "future.get() returned, on another thread than the loop"};
  } catch (const std::system_error& e) {
    return {e.code(), "future.get() threw system_error"};
  }
}

// 3. use_awaitable: co_await suspends the coroutine until the wait completes; an error
//    becomes a std::system_error thrown at the co_await.
asio::awaitable<WaitReport> with_use_awaitable(Timer timer) {
  WaitReport report{{}, "co_await returned"};
  try {
    co_await timer->async_wait(asio::use_awaitable);
  } catch (const std::system_error& e) {
    report = {e.code(), "co_await threw system_error"};
  }
  co_return report;
}

// 4. deferred: async_wait(deferred) starts nothing; it returns an operation object. It can be
//    stored, passed around, composed with `|` and a continuation, and only starts when it is
//    called with a token. Here the continuation turns (error_code) into (WaitReport), so the
//    composed operation completes with a WaitReport and the co_await cannot throw.
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
//    and the promise holds its result until someone waits for it with any token. Destroying
//    a promise that is not done cancels the operation. Experimental in every Asio release,
//    and its API changed in 1.25: you wait with promise.async_wait(token) up to 1.24 and
//    with promise(token) from 1.25, so the lesson writes compat::wait_for(promise, token).
asio::awaitable<WaitReport> with_promise(Timer timer) {
  auto promise = timer->async_wait(asio::experimental::use_promise);  // already waiting
  WaitReport report{{}, "waiting on the promise returned"};
  try {
    co_await compat::wait_for(promise, asio::use_awaitable);
  } catch (const std::system_error& e) {
    report = {e.code(), "waiting on the promise threw system_error"};
  }
  co_return report;
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
    // The mistake: waiting for the loop from inside the loop. The timer falls due while we
    // wait, but firing it is the loop's job, and the loop's only thread is stuck right here.
    // future.get() has no timeout: it would never return. wait_for() lets us see it.
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
