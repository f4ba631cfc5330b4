// How it is built: lesson 027's machinery. run_before(), the deadline around one attempt (lesson
// 014's Deadline::run, on any timer type), and the demo's flaky service with its client,
// fetch(), a tiny HTTP/1.0-shaped protocol over TCP on 127.0.0.1. You can skip this file at this
// lesson: resilience.hpp says what retry() does with a deadline, and main.cpp shows the service
// at work. Timeouts and their three rules are taught in lesson 014, parallel groups in 004,
// cancellation in 005, streams in 012. (Not named how_it_is_built.hpp: lesson 014's file of that
// name is on the include path too, since this lesson uses its TimeoutError.)
#pragma once

#include <deque>
#include <exception>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "resilience.hpp"
#include "timeouts.hpp"  // lesson 014: TimeoutError

namespace lesson027 {

/// retry()'s input check: throws std::invalid_argument naming the field for max_attempts < 1,
/// base <= 0, cap < base, deadline <= 0 or an empty judge; an empty random becomes
/// seeded_random() from std::random_device.
void check(RetryPolicy& policy);

/// Awaits `operation`, cancelling it if `deadline` (on Timer's clock) comes first: then throws
/// lesson014::TimeoutError once it has ended. time_point::max() means no deadline. Lesson 014's
/// rules: the race ends at the first completion (not the first success); a result that arrived
/// is returned even if the deadline passed in the same turn; only the deadline's own
/// cancellation becomes TimeoutError, a cancellation from outside stays operation_aborted.
template <class Timer>
asio::awaitable<std::string> run_before(typename Timer::time_point deadline,
                                        asio::awaitable<std::string> operation) {
  if (deadline == Timer::time_point::max()) co_return co_await std::move(operation);
  auto executor = co_await asio::this_coro::executor;
  asio::cancellation_state caller = co_await asio::this_coro::cancellation_state;
  Timer timer(executor, deadline);
  auto running = asio::co_spawn(executor, std::move(operation), compat::deferred);
  auto timing = timer.async_wait(compat::deferred);
  auto group = asio::experimental::make_parallel_group(std::move(running), std::move(timing));
  auto results = co_await group.async_wait(asio::experimental::wait_for_one(),
                                           asio::use_awaitable);
  // results: (completion order, the operation's exception, its value, the timer's error)
  std::exception_ptr failure = std::get<1>(results);
  if (!failure) co_return std::move(std::get<2>(results));
  const bool expired = !std::get<3>(results);  // the timer fired (not cancelled)
  if (expired && caller.cancelled() == asio::cancellation_type::none &&
      tut::is_cancellation(failure))
    throw lesson014::TimeoutError();
  std::rethrow_exception(failure);
}

/// The demo's flaky service, in the same process: an HTTP/1.0-shaped server on 127.0.0.1 (port
/// 0) that answers each request (one per connection) with the next reply of its script and logs
/// it. Use it from one thread; it must outlive serve().
class FlakyService {
 public:
  explicit FlakyService(asio::any_io_executor executor);
  asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

  /// The replies to play, one per request: "503", "404", "429 1" (with Retry-After: 1, in
  /// seconds as HTTP says), "200 <body>", or "hang" (never answers; waits until the client
  /// hangs up). Once they are used up, every request gets `then`.
  void script(std::vector<std::string> replies, std::string then = "200 42.17");
  /// Accepts and answers until stop(); each connection is a task of its own.
  asio::awaitable<void> serve();
  void stop() { acceptor_.close(); }
  int requests() const { return requests_; }

 private:
  asio::awaitable<void> answer(asio::ip::tcp::socket socket);

  asio::ip::tcp::acceptor acceptor_;
  std::deque<std::string> script_;
  std::string then_ = "200 42.17";
  int requests_ = 0;
};

/// The client: GET `path` from `where` on a new connection (HTTP/1.0: the server closes it after
/// the reply). Returns the body of a 200; throws ServiceError for another status (with the
/// Retry-After header, delta-seconds only), or the socket's std::system_error (eof if the
/// connection closes before a reply).
asio::awaitable<std::string> fetch(asio::ip::tcp::endpoint where, std::string path);

}  // namespace lesson027
