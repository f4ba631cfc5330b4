// Lesson 016: one timer wait, completed with each kind of completion token (see futures.hpp).
// Each with_* function below is one style: compare them side by side.
#include "futures.hpp"

#include <functional>
#include <memory>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson016 {

namespace {

// The coroutines below outlive no one, but they take the timer as a shared_ptr by value all
// the same: a coroutine parameter by reference is the classic way to dangle (lesson 019).
using Timer = std::shared_ptr<asio::steady_timer>;

// 1. A callback: the lambda is the completion handler; run() calls it with the error_code.
Outcome with_callback(asio::io_context& io, Timer timer) {
  Outcome outcome;
  timer->async_wait([&outcome](std::error_code error) {
    outcome = {error, "the callback got the error_code"};
  });
  io.run();
  return outcome;
}

// 2. use_future: async_wait returns a std::future<void>. It is for a thread that is NOT
//    running the loop: here main blocks in get() while another thread runs io.run().
//    An error arrives as a std::system_error thrown by get().
Outcome with_use_future(asio::io_context& io, Timer timer) {
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
asio::awaitable<Outcome> with_use_awaitable(Timer timer) {
  Outcome outcome{{}, "co_await returned"};
  try {
    co_await timer->async_wait(asio::use_awaitable);
  } catch (const std::system_error& e) {
    outcome = {e.code(), "co_await threw system_error"};
  }
  co_return outcome;
}

// 4. deferred: async_wait(deferred) starts nothing; it returns an operation object. It can be
//    stored, passed around, composed with `|` and a continuation, and only starts when it is
//    called with a token. Here the continuation turns (error_code) into (Outcome), so the
//    composed operation completes with an Outcome and the co_await cannot throw.
asio::awaitable<Outcome> with_deferred(Timer timer) {
  auto wait = timer->async_wait(compat::deferred);  // nothing is waiting yet
  auto describe = compat::deferred([](std::error_code error) {
    return compat::deferred.values(Outcome{error, "deferred op | continuation, then co_await"});
  });
  auto wait_and_describe = std::move(wait) | std::move(describe);  // still nothing runs
  Outcome outcome = co_await std::move(wait_and_describe)(asio::use_awaitable);  // starts here
  co_return outcome;
}

// 5. as_tuple: the token adapter turns (error_code, ...) into one tuple: no exception at all,
//    the error is a value you must look at (like Go's `v, err :=`).
asio::awaitable<Outcome> with_as_tuple(Timer timer) {
  auto token = compat::as_tuple(asio::use_awaitable);  // built outside the co_await (g++ 12)
  auto [error] = co_await timer->async_wait(token);
  co_return Outcome{error, "co_await returned tuple(error_code)"};
}

// 6. redirect_error: the error_code goes into a variable of yours; co_await returns normally.
asio::awaitable<Outcome> with_redirect_error(Timer timer) {
  std::error_code error;
  auto token = asio::redirect_error(asio::use_awaitable, error);
  co_await timer->async_wait(token);
  co_return Outcome{error, "co_await returned, error_code redirected"};
}

// 7. experimental::use_promise: the operation starts at once (eager, like an asyncio Task)
//    and the promise holds its result until someone waits for it with any token. Destroying
//    a promise that is not done cancels the operation. Experimental in every Asio release,
//    and its API changed in 1.25: you wait with promise.async_wait(token) up to 1.24 and
//    with promise(token) from 1.25, so the lesson writes compat::wait_for(promise, token).
asio::awaitable<Outcome> with_promise(Timer timer) {
  auto promise = timer->async_wait(asio::experimental::use_promise);  // already waiting
  Outcome outcome{{}, "waiting on the promise returned"};
  try {
    co_await compat::wait_for(promise, asio::use_awaitable);
  } catch (const std::system_error& e) {
    outcome = {e.code(), "waiting on the promise threw system_error"};
  }
  co_return outcome;
}

}  // namespace

const char* name(Style style) {
  switch (style) {
    case Style::callback: return "callback";
    case Style::use_future: return "future";
    case Style::use_awaitable: return "awaitable";
    case Style::deferred: return "deferred";
    case Style::as_tuple: return "as_tuple";
    case Style::redirect_error: return "redirect";
    case Style::promise: return "promise";
  }
  return "?";
}

Outcome wait_in_style(Style style, milliseconds delay, std::optional<milliseconds> cancel_after) {
  asio::io_context io;
  auto timer = std::make_shared<asio::steady_timer>(io, delay);
  asio::steady_timer canceller(io);
  if (cancel_after) {
    canceller.expires_after(*cancel_after);
    canceller.async_wait([timer](std::error_code error) {
      if (!error) timer->cancel();  // the pending wait completes with operation_aborted
    });
  }

  switch (style) {
    case Style::callback: return with_callback(io, timer);
    case Style::use_future: return with_use_future(io, timer);
    default: break;
  }
  asio::awaitable<Outcome> coroutine = [&] {
    switch (style) {
      case Style::use_awaitable: return with_use_awaitable(timer);
      case Style::deferred: return with_deferred(timer);
      case Style::as_tuple: return with_as_tuple(timer);
      case Style::redirect_error: return with_redirect_error(timer);
      default: return with_promise(timer);
    }
  }();
  // tut::run() spelled out, because the canceller must share this io_context.
  tut::Outcome<Outcome> result;
  tut::spawn_into(io, std::move(coroutine), result);
  io.run();
  return result.take();
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
