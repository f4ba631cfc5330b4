// Lesson 027: retry with backoff, a rate limit and a circuit breaker, for clients of a flaky
// service. Each takes its timer (or clock) type as a template parameter, as lesson 023 teaches:
// asio::steady_timer in the program, tut::fake::Timer in the tests, where every schedule is
// checked to the millisecond of fake time. Every object here belongs to one executor.
//
// Python counterparts (progression.md says where these differ, and why):
// - retry(): tenacity's AsyncRetrying(wait=wait_random_exponential(multiplier=base, max=cap),
//   stop=stop_after_attempt(n) | stop_before_delay(d), retry=..., before_sleep=...,
//   reraise=True), honouring a server's Retry-After as urllib3's Retry does.
// - TokenBucket: aiolimiter.AsyncLimiter(max_rate, time_period), with a burst of its own and
//   strict FIFO slots, as Go's rate.NewLimiter(r, b) and Limiter.Wait.
// - CircuitBreaker: pybreaker's CircuitBreaker(fail_max, reset_timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

namespace lesson027 {

using std::chrono::milliseconds;

/// One try of the call to retry (or to guard with a breaker): each call starts a new request.
using Attempt = std::function<asio::awaitable<std::string>()>;

/// An error answer from a service: its HTTP status and, if it sent one, its Retry-After.
struct ServiceError : std::runtime_error {
  ServiceError(int code, const std::string& reason, std::optional<milliseconds> after)
      : std::runtime_error(std::to_string(code) + " " + reason), status(code), retry_after(after) {}
  int status;
  std::optional<milliseconds> retry_after;
};

/// What to do about a failed attempt: retry or not, and after the server's Retry-After, if any.
struct Verdict {
  bool retry = false;
  std::optional<milliseconds> after;  // it replaces the backoff
};

/// The default judge (tenacity's retry=): retry 429, 500, 502, 503 and 504 (with their
/// Retry-After) and network errors a new connection may cure (refused, reset, eof, timed out...).
/// Never a cancellation, another status (a 404 stays a 404) or any other exception (a bug).
Verdict worth_retrying(const std::exception_ptr& error);

/// A source of random numbers in [0, 1), like Python's random.random().
using Random = std::function<double()>;
/// A std::mt19937 seeded with `seed`: the same numbers on every run and every platform. Copies
/// share one generator, so two retry loops with copies of one policy do not jitter in step.
Random seeded_random(std::uint32_t seed);

struct RetryPolicy {
  int max_attempts = 5;                  // stop_after_attempt(max_attempts)
  milliseconds base{100};                // the first window; it doubles after each attempt...
  milliseconds cap{10'000};              // ...up to this
  std::optional<milliseconds> deadline;  // the whole retry, from the first attempt on
  Random random;                         // empty: seeded from std::random_device
  std::function<Verdict(const std::exception_ptr&)> judge = worth_retrying;
  /// tenacity's before_sleep(attempt number from 1, its error, the wait chosen): the demo logs.
  std::function<void(int, const std::exception_ptr&, milliseconds)> before_sleep;
};

/// The backoff window after attempt `attempt` (from 1): min(cap, base * 2^(attempt-1)).
milliseconds backoff_window(const RetryPolicy& policy, int attempt);

/// Calls attempt() until it succeeds and returns its value. After a failure the judge decides:
/// not worth retrying, or the last attempt: the error is rethrown. Else it waits the server's
/// Retry-After, or a random time in [0, backoff_window): "full jitter", so clients that failed
/// together do not all come back together. With a deadline it gives up rather than wait past
/// it, and cancels an attempt still running then (lesson 014's TimeoutError). A cancellation
/// stops it at once. A policy that makes no sense is std::invalid_argument.
template <class Timer>
asio::awaitable<std::string> retry(Attempt attempt, RetryPolicy policy);

/// A rate limit: at most `burst` acquisitions at once, then `rate` per `period` (one every
/// period / rate). The object must outlive every acquire() in progress.
template <class Timer>
class TokenBucket {
 public:
  using clock = typename Timer::clock_type;
  /// Throws std::invalid_argument unless rate > 0, period > 0 and burst >= 1.
  TokenBucket(asio::any_io_executor executor, int rate, typename clock::duration period, int burst);

  /// Waits for a token: returns at once if one is free, else when its reserved slot comes
  /// (FIFO). A wait cancelled before its slot gives the token back if nobody reserved one
  /// after it (Go's Reservation.Cancel does the same); otherwise that slot stays unused.
  asio::awaitable<void> acquire();

 private:
  asio::any_io_executor executor_;
  typename clock::duration interval_;    // one new token per interval
  typename clock::duration burst_span_;  // (burst - 1) intervals
  typename clock::time_point busy_until_{};  // see acquire()
};

/// Thrown by CircuitBreaker::call() when the circuit is open: the dependency was not called.
struct CircuitOpenError : std::runtime_error {
  CircuitOpenError() : std::runtime_error("circuit open: the call was not made") {}
};

/// A circuit breaker: stops calling a dependency that keeps failing, and probes it again after
/// `reset_timeout`.
template <class Clock>
class CircuitBreaker {
 public:
  enum class State { closed, open, half_open };
  /// Throws std::invalid_argument unless failure_threshold >= 1 and reset_timeout >= 0.
  CircuitBreaker(int failure_threshold, typename Clock::duration reset_timeout);

  /// Closed: calls `operation`; `failure_threshold` failures in a row open the circuit.
  /// Open: throws CircuitOpenError without calling, until reset_timeout has passed; then
  /// half-open: one call goes through (others throw CircuitOpenError meanwhile) and its result
  /// closes the circuit or opens it again. A failure is an error worth_retrying(); another
  /// error is a success (the dependency answered); a cancellation is neither.
  asio::awaitable<std::string> call(Attempt operation);

  State state() const { return state_; }
  std::function<void(State)> on_change;  // told each new state (pybreaker's listeners)

 private:
  void become(State state);

  int threshold_;
  typename Clock::duration reset_timeout_;
  State state_ = State::closed;
  int failures_ = 0;                      // in a row, while closed
  typename Clock::time_point opened_at_{};
  bool probing_ = false;                  // half-open: the one probe is in flight
};

}  // namespace lesson027
