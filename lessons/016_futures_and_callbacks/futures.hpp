// Lesson 016: futures and callbacks. One asynchronous operation, a steady_timer wait, and
// every way Asio lets you receive its result. In Asio the *caller* picks the shape of the
// result by passing a completion token as the last argument of any async_ function:
//
//   token                           what async_wait(token) returns / how the result arrives
//   a lambda (a callback)           nothing; the lambda is called with the error_code
//                                   (asyncio: fut.add_done_callback(cb))
//   asio::use_future                a std::future: for a thread *outside* the loop
//                                   (asyncio: run_coroutine_threadsafe(...).result())
//   asio::use_awaitable             an awaitable: co_await it; an error becomes an exception
//   compat::deferred                an operation object: nothing starts until you call it
//                                   with a token; it composes with a continuation first
//   compat::as_tuple(use_awaitable) co_await returns a tuple (error_code, ...): no exception
//   asio::redirect_error(tok, ec)   co_await returns; the error_code is written into ec
//   experimental::use_promise       an eager experimental::promise: already running, wait later
//                                   (the closest thing to an asyncio.Future or Task)
//
// asyncio has one Future type that everything returns; Asio lets each call site choose, and
// the operation itself is written once (legacy.hpp shows how, with async_initiate).
#pragma once

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <system_error>

namespace lesson016 {

using std::chrono::milliseconds;

/// The ways to complete one async_wait, in the order the lesson shows them.
enum class Style { callback, use_future, use_awaitable, deferred, as_tuple, redirect_error, promise };
inline constexpr Style all_styles[] = {Style::callback, Style::use_future, Style::use_awaitable,
                                       Style::deferred, Style::as_tuple, Style::redirect_error,
                                       Style::promise};
/// A short name for the log column: "callback", "future", "awaitable", ...
const char* name(Style style);

/// What one wait reported, and how the result reached us (e.g. "co_await threw system_error").
/// Not an Outcome<T> (lesson 003's value-or-exception): every style yields an error_code.
struct WaitReport {
  std::error_code error;
  std::string how;
};

/// Waits `delay` on a steady_timer of a fresh io_context, receiving the result in `style`.
/// If `cancel_after` is set, another timer calls cancel() on it then, so the wait ends
/// with asio::error::operation_aborted. Every style reports the same error_code.
WaitReport wait_in_style(Style style, milliseconds delay,
                         std::optional<milliseconds> cancel_after = std::nullopt);

/// Why nobody calls future.get() on the loop's own thread: a handler of a single-threaded
/// io_context starts a `timer_delay` wait with use_future and blocks in wait_for(`block_for`),
/// which times out even when block_for > timer_delay (get() would hang): nobody fires the timer.
std::future_status block_inside_loop(milliseconds timer_delay, milliseconds block_for);

}  // namespace lesson016
