// How it is built: the inside of lesson 014's Deadline (its members: templates, so they live in
// a header), the socket helpers the demo and the tests share, and the demo's scaffolding. You
// can skip it at this lesson: timeouts.hpp says what Deadline does and with_timeout()
// shows how it is used. Read it for the three rules of a correct timeout made concrete: a
// parallel group that ends at the first completion (lesson 004), cancellation of the loser
// (lesson 005), and the caller's cancellation state to tell whose cancellation it was
// (cancellation slots and states: lesson 018). Included at the end of timeouts.hpp; the
// functions declared here are in timeouts_how_it_is_built.cpp. (Named after the lesson: lessons
// 027 and 028 use this one, and their own files must not shadow it.)
#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "run.hpp"
#include "timeouts.hpp"

namespace lesson014 {

/// Two connected TCP sockets on 127.0.0.1 (an ephemeral port): a client and a server end.
asio::awaitable<std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket>> socket_pair();

/// Connects to `endpoint` (asyncio.open_connection without the streams).
asio::awaitable<asio::ip::tcp::socket> connect(asio::ip::tcp::endpoint endpoint);

template <class Timer>
void BasicDeadline<Timer>::reschedule(time_point when) {
  // expires_at() cancels the waits in progress; watch() sees that and waits again for the
  // new time. The deadline is whatever the timer says *now*.
  timer_.expires_at(when);
  expired_ = false;
}

template <class Timer>
asio::awaitable<void> BasicDeadline<Timer>::watch() {
  for (;;) {
    auto [error] = co_await timer_.async_wait(compat::as_tuple(asio::use_awaitable));
    (void)error;  // success or aborted, the same questions decide what it meant:
    // 1. Were *we* cancelled (the operation finished first, or the caller was cancelled)?
    //    Then stop. Returning, not throwing: run() decides from the operation's outcome alone,
    //    and an exception for every operation that beats its deadline costs microseconds of
    //    unwinding (lesson 025's client spent about 40% of its instructions there).
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
    // 2. Has the deadline really passed? A reschedule() may have moved it, even after the
    //    timer fired but before we got to run.
    if (Timer::clock_type::now() >= timer_.expiry()) {
      expired_ = true;
      co_return;  // completing ends the race: the group cancels the operation
    }
  }
}

template <class Timer>
template <typename T>
asio::awaitable<T> BasicDeadline<Timer>::run(asio::awaitable<T> operation) {
  auto executor = co_await asio::this_coro::executor;
  // The caller's own cancellation state (run() is awaited inline, so it is the caller's):
  // a request recorded there while the operation runs comes from outside, not from us.
  asio::cancellation_state caller = co_await asio::this_coro::cancellation_state;
  const auto cancelled_at_start = caller.cancelled();
  // Run the operation and the watch side by side; wait_for_one: as soon as either one
  // *completes* (success or failure), cancel the other. Unlike `||`, a failure ends the race.
  // The group only completes once both have finished, so the cancelled operation's cleanup
  // has run by the time we decide anything.
  auto racing = asio::experimental::make_parallel_group(
      asio::co_spawn(executor, std::move(operation), compat::deferred),
      asio::co_spawn(executor, watch(), compat::deferred));
  auto results = co_await racing.async_wait(asio::experimental::wait_for_one(),
                                            asio::use_awaitable);
  // results: (completion order, the operation's exception[, its value], the watch's exception)
  std::exception_ptr failure = std::get<1>(results);
  if (!failure) {
    // It completed: return its result even if the deadline passed in the same turn (asyncio
    // would raise TimeoutError here: see "Where C++ differs" in timeouts.hpp).
    if constexpr (std::is_void_v<T>) {
      co_return;
    } else {
      co_return std::move(std::get<2>(results));
    }
  }
  // asyncio.timeout: a CancelledError becomes TimeoutError only if *this* deadline expired
  // and nobody else cancelled the caller meanwhile (asyncio counts the task's cancel
  // requests). An outside cancellation wins even if it came in the same turn as the deadline,
  // and so does an outer deadline's: with nested deadlines expiring together, the inner one
  // passes the cancellation on and the outer one raises TimeoutError. Anything else (a real
  // error, a cancellation from further out) passes through unchanged.
  const bool cancelled_from_outside = caller.cancelled() != cancelled_at_start;
  if (expired_ && !cancelled_from_outside && tut::is_cancellation(failure)) throw TimeoutError();
  std::rethrow_exception(failure);
}

// ---- the demo's scaffolding (main.cpp) -------------------------------------------------------
namespace demo {

/// How an operation ended, in words: TimeoutError is tested first, since it is a system_error
/// too ("TimeoutError", "operation_aborted (not its deadline)", "system_error: ...").
std::string what_happened(std::exception_ptr error);

/// Runs `operation` and logs how it ended, as `who`, then passes the outcome on unchanged.
asio::awaitable<std::string> reporting(std::string who, asio::awaitable<std::string> operation);

/// Connects to `endpoint` and returns "connected"; logs and rethrows a failure.
asio::awaitable<std::string> connect_and_greet(asio::ip::tcp::endpoint endpoint);

/// The peer of the socket parts: sends a script of chunks ("line 1\n", ..., "par", "tial\n",
/// ...), each at its time after `start` (absolute times, so that a timer that fires a little
/// late does not delay all the rest).
asio::awaitable<void> peer(asio::ip::tcp::socket socket, clock::time_point start);

}  // namespace demo
}  // namespace lesson014
