// Lesson 014: timeouts. The core the demo and the tests call.
//
// asyncio counterparts: asyncio.wait_for(aw, t) and `async with asyncio.timeout(t)` are
// with_timeout(); `async with asyncio.timeout_at(when)` is timeout_at() or a Deadline shared
// by several awaits; asyncio.Timeout's when() / reschedule() / expired() are Deadline's.
//
// The semantics follow asyncio.timeout (checked against Python 3.11):
// - When the deadline passes, the operation is cancelled (Asio: its cancellation slot fires,
//   so it sees asio::error::operation_aborted where asyncio raises CancelledError), its
//   cleanup runs, and only once it has finished does the caller get TimeoutError.
// - Only the deadline's own cancellation becomes TimeoutError. If something else cancels the
//   operation (an outer deadline, the caller's own canceller), operation_aborted passes
//   through unchanged, so nested timeouts each report their own expiry. That holds even when
//   both come in the same turn: the outside cancellation wins, and of two nested deadlines
//   expiring together the outer one raises TimeoutError (asyncio counts cancel requests).
// Where C++ differs:
// - There is no `async with` block; the "block" is an awaitable handed to run(),
//   with_timeout() or timeout_at(). And Asio's `a || b` is not a timeout: see
//   naive_with_timeout().
// - A result that arrives in the same turn as the deadline is returned, even if the deadline's
//   handler ran first. An Asio operation that has completed cannot be cancelled any more, and
//   the group reports how it completed; asyncio instead throws CancelledError into the task
//   when it resumes, so the value is dropped and asyncio.timeout (and wait_for from 3.12 on)
//   raises TimeoutError. (3.11's wait_for still returned a result that landed first.)
// - An operation that ignores cancellation cannot be cut short: with_timeout waits for its
//   end and then returns its result, late, without TimeoutError. Blocking work is like that
//   (lesson 017's to_thread: nothing can stop a thread that is blocked in a call).
//   asyncio.wait_for(asyncio.to_thread(f), t) raises TimeoutError on time and leaves the
//   thread running; Asio's group must wait for every operation it started. Do not put a
//   deadline around to_thread with Asio 1.22 at all: its co_spawn delivers the cancellation
//   from this thread straight into the coroutine running on the pool thread, a data race
//   (ThreadSanitizer reports it in asio::cancellation_state).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "sleep.hpp"

namespace lesson014 {

using std::chrono::milliseconds;
using clock = std::chrono::steady_clock;

/// asyncio's TimeoutError. Like Python's (an OSError with errno ETIMEDOUT) it is a
/// std::system_error with code std::errc::timed_out, so `catch (const std::system_error&)`
/// catches it too: catch TimeoutError first to tell a timeout apart from other errors.
class TimeoutError : public std::system_error {
 public:
  TimeoutError();
};

/// asyncio.Timeout: one deadline, one timer, shared by any number of operations run under it
/// one after the other (or at once). Use it from the io_context's thread only. Deadline runs on
/// the real clock; BasicDeadline takes the timer type, as asio::basic_waitable_timer takes its
/// clock (lesson 027 runs it on lesson 023's fake timer).
template <class Timer>
class BasicDeadline {
 public:
  using time_point = typename Timer::time_point;
  BasicDeadline(asio::any_io_executor executor, time_point when) : timer_(std::move(executor), when) {}

  /// The deadline (asyncio.Timeout.when()).
  time_point when() const { return timer_.expiry(); }
  /// Moves the deadline, earlier or later, also while operations run under it.
  void reschedule(time_point when);
  /// True once the deadline has passed and cancelled something (asyncio.Timeout.expired()).
  bool expired() const { return expired_; }

  /// Runs `operation`, cancelling it if the deadline passes first. Returns its result; throws
  /// TimeoutError if the deadline cancelled it, or whatever else it threw. (How: a parallel
  /// group of the operation and watch(), in timeouts_how_it_is_built.hpp.)
  template <typename T>
  asio::awaitable<T> run(asio::awaitable<T> operation);

 private:
  asio::awaitable<void> watch();  // completes when the deadline has really passed

  Timer timer_;
  bool expired_ = false;
};
using Deadline = BasicDeadline<asio::steady_timer>;

/// The watchdog of Asio's own timeouts examples, for a hot path where a Deadline::run per
/// operation costs too much (two coroutines and a parallel group each; lesson 025's client
/// sends tens of thousands of requests a second): one timer per long-lived object, such as a
/// connection, re-armed for each operation. When the deadline passes it calls `on_expiry`
/// (typically the socket's cancel()), so the operation in progress ends with
/// operation_aborted; the caller then asks expired() and throws TimeoutError itself. It
/// reaches only what on_expiry cancels, which is why Deadline stays the general tool.
class Watchdog {
 public:
  Watchdog(asio::any_io_executor executor, std::function<void()> on_expiry);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// Watches for `when` (earlier or later than before); clears expired().
  void arm(clock::time_point when);
  /// Watches no more, and leaves no timer wait pending (an idle object must not keep its
  /// io_context's run() going).
  void disarm();
  /// True once the deadline passed and on_expiry was called (until the next arm()).
  bool expired() const;

 private:
  struct State;  // shared with the pending wait's handler (timeouts_how_it_is_built.cpp)
  static void wait(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

/// asyncio.wait_for(operation, timeout) / `async with asyncio.timeout(timeout)`.
template <typename T>
asio::awaitable<T> with_timeout(asio::awaitable<T> operation, milliseconds timeout);

/// `async with asyncio.timeout_at(when)`: like with_timeout, with an absolute deadline.
template <typename T>
asio::awaitable<T> timeout_at(clock::time_point when, asio::awaitable<T> operation);

/// The tempting one-liner `co_await (operation || timer.async_wait(...))`, kept to show its
/// trap: `||` ends at the first branch that *succeeds*. If the operation fails at once, the
/// race goes on until the timer fires and the caller sees a timeout (an empty optional): the
/// real error is lost, and it took the whole timeout to "learn" it. Do not use.
template <typename T>
asio::awaitable<std::optional<T>> naive_with_timeout(asio::awaitable<T> operation,
                                                     milliseconds timeout);

/// asyncio.sleep(delay): the tutorial's one, common/sleep.hpp.
using tut::sleep;

/// A stand-in for a slow request named `name`: returns `text` after `delay`. If it is
/// cancelled it logs so, runs its cleanup, and lets the cancellation propagate.
asio::awaitable<std::string> slow_answer(std::string name, milliseconds delay, std::string text);

/// Reads '\n'-terminated lines from a socket. What arrives goes into a buffer that belongs to
/// the reader, not to any one read, so a timeout loses nothing: a partial line stays
/// buffered and the next read_line() continues it.
class LineReader {
 public:
  explicit LineReader(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  /// The next line, without its '\n'. Throws std::system_error(asio::error::eof) if the peer
  /// closes first (a partial line then stays in buffered()).
  asio::awaitable<std::string> read_line();
  /// The same, within `timeout` of the call: throws TimeoutError otherwise.
  asio::awaitable<std::string> read_line(milliseconds timeout);
  /// Bytes received but not yet returned as a line.
  const std::string& buffered() const { return buffer_; }
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
  std::string buffer_;
};

/// Reads up to `count` lines, all before `deadline`: one Deadline for the whole sequence,
/// however many reads it takes (asyncio.timeout_at around a loop). Returns the lines that
/// arrived in time, fewer than `count` if the deadline passed. `reader` must outlive the call.
asio::awaitable<std::vector<std::string>> read_lines(LineReader& reader, std::size_t count,
                                                     clock::time_point deadline);

// ---- templates ------------------------------------------------------------------------------

template <typename T>
asio::awaitable<T> timeout_at(clock::time_point when, asio::awaitable<T> operation) {
  Deadline deadline(co_await asio::this_coro::executor, when);
  if constexpr (std::is_void_v<T>) {
    co_await deadline.run(std::move(operation));
  } else {
    co_return co_await deadline.run(std::move(operation));
  }
}

template <typename T>
asio::awaitable<T> with_timeout(asio::awaitable<T> operation, milliseconds timeout) {
  // A coroutine, so the clock starts when the caller awaits it, not when it is created.
  auto when = clock::now() + timeout;
  if constexpr (std::is_void_v<T>) {
    co_await timeout_at(when, std::move(operation));
  } else {
    co_return co_await timeout_at(when, std::move(operation));
  }
}

template <typename T>
asio::awaitable<std::optional<T>> naive_with_timeout(asio::awaitable<T> operation,
                                                     milliseconds timeout) {
  static_assert(!std::is_void_v<T>, "naive_with_timeout needs an operation with a result");
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto timing = timer.async_wait(asio::use_awaitable);
  auto first = co_await (std::move(operation) || std::move(timing));
  if (first.index() == 0) co_return std::move(std::get<0>(first));
  co_return std::nullopt;  // "timed out"... or failed, and we cannot tell which
}

}  // namespace lesson014

// Deadline::run's definition, socket_pair() and connect(): optional reading.
#include "timeouts_how_it_is_built.hpp"
