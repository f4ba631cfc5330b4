// Lesson 027: retry, a token bucket and a circuit breaker. Each is written once, with its timer
// or clock as a template parameter, and instantiated at the end for the real clock (the demo)
// and the fake one (the tests). The deadline around the attempts is lesson 014's.
#include "resilience.hpp"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "fake_clock.hpp"
#include "resilience_how_it_is_built.hpp"
#include "timeouts.hpp"  // lesson 014: BasicDeadline, TimeoutError

namespace lesson027 {

Verdict worth_retrying(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ServiceError& e) {
    // Overloaded or briefly broken: asking again later may work. Any other status would
    // come back the same.
    int s = e.status;
    return {s == 429 || s == 500 || s == 502 || s == 503 || s == 504, e.retry_after};
  } catch (const std::system_error& e) {
    auto c = e.code();
    if (c == asio::error::operation_aborted) return {};  // cancelled: stop, never retry
    return {c == asio::error::eof || c == asio::error::connection_refused ||
            c == asio::error::connection_reset || c == asio::error::connection_aborted ||
            c == asio::error::broken_pipe || c == asio::error::timed_out ||
            c == std::errc::timed_out ||  // lesson 014's TimeoutError: a slow attempt
            c == asio::error::network_unreachable || c == asio::error::host_unreachable, {}};
  } catch (...) {
    return {};  // a bug (logic_error, bad_alloc...) does not go away by asking again
  }
}

Random seeded_random(std::uint32_t seed) {
  // Our own conversion to [0, 1): mt19937's numbers are fixed by the standard,
  // std::uniform_real_distribution's differ between libraries.
  auto generator = std::make_shared<std::mt19937>(seed);
  return [generator] { return static_cast<double>((*generator)()) / 4294967296.0; };
}

milliseconds backoff_window(const RetryPolicy& policy, int attempt) {
  milliseconds window = policy.base;
  for (int i = 1; i < attempt && window < policy.cap; ++i) window *= 2;  // stops at the cap:
  return std::min(window, policy.cap);                                  // no overflow
}

template <class Timer>
asio::awaitable<std::string> retry(Attempt attempt, RetryPolicy policy) {
  check(policy);  // std::invalid_argument for a policy that makes no sense
  using clock = typename Timer::clock_type;
  auto executor = co_await asio::this_coro::executor;
  // Lesson 014's Deadline, shared by every attempt (time_point::max(): no deadline).
  lesson014::BasicDeadline<Timer> deadline(
      executor, policy.deadline ? clock::now() + *policy.deadline : clock::time_point::max());
  Timer timer(executor);
  for (int n = 1;; ++n) {
    std::exception_ptr failure;
    try {
      auto call = attempt();
      co_return co_await deadline.run(std::move(call));
    } catch (...) {
      failure = std::current_exception();
    }
    // A cancellation ends the loop at once: rethrown as it is, never judged, never retried.
    if (tut::is_cancellation(failure)) std::rethrow_exception(failure);
    Verdict verdict = policy.judge(failure);
    if (!verdict.retry || n == policy.max_attempts) std::rethrow_exception(failure);
    // The server's Retry-After, else full jitter: uniform in [0, window).
    const milliseconds window = backoff_window(policy, n);
    const milliseconds delay = verdict.after ? *verdict.after
                               : std::chrono::duration_cast<milliseconds>(window * policy.random());
    // tenacity's stop_before_delay: do not start a wait that ends at or after the deadline
    // (that also stops here after a TimeoutError: the deadline has passed).
    if (clock::now() + delay >= deadline.when()) std::rethrow_exception(failure);
    if (policy.before_sleep) policy.before_sleep(n, failure, delay);
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);  // a cancellation ends the wait too
  }
}

// ---- TokenBucket ----------------------------------------------------------------------------

template <class Timer>
TokenBucket<Timer>::TokenBucket(asio::any_io_executor executor, int rate,
                                typename clock::duration period, int burst)
    : executor_(std::move(executor)) {
  if (rate <= 0) throw std::invalid_argument("TokenBucket: rate must be > 0");
  if (period <= clock::duration::zero())
    throw std::invalid_argument("TokenBucket: period must be > 0");
  if (burst < 1) throw std::invalid_argument("TokenBucket: burst must be >= 1");
  interval_ = period / rate;
  if (interval_ <= clock::duration::zero())
    throw std::invalid_argument("TokenBucket: rate too high for the clock's resolution");
  burst_span_ = (burst - 1) * interval_;
}

template <class Timer>
asio::awaitable<void> TokenBucket<Timer>::acquire() {
  // The tokens handed out, counted as time: each costs one interval, and the bucket is full
  // again at busy_until_ (the "generic cell rate algorithm"). A new acquire may start once
  // that debt is at most burst - 1 intervals: burst at once, then one per interval.
  const auto now = clock::now();
  busy_until_ = std::max(busy_until_, now);  // an idle bucket refills, up to the burst
  const auto start = std::max(now, busy_until_ - burst_span_);
  busy_until_ += interval_;
  if (start <= now) co_return;  // a token is free: no wait, no suspension
  const auto mine = busy_until_;
  Timer timer(executor_, start);
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (...) {
    if (busy_until_ == mine) busy_until_ -= interval_;  // nobody after us: give it back
    throw;
  }
}

// ---- CircuitBreaker -------------------------------------------------------------------------

template <class Clock>
CircuitBreaker<Clock>::CircuitBreaker(int failure_threshold, typename Clock::duration reset_timeout)
    : threshold_(failure_threshold), reset_timeout_(reset_timeout) {
  if (failure_threshold < 1)
    throw std::invalid_argument("CircuitBreaker: failure_threshold must be >= 1");
  if (reset_timeout < Clock::duration::zero())
    throw std::invalid_argument("CircuitBreaker: reset_timeout must be >= 0");
}

template <class Clock>
void CircuitBreaker<Clock>::become(State state) {
  state_ = state;
  if (state == State::open) opened_at_ = Clock::now();
  if (on_change) on_change(state);
}

template <class Clock>
asio::awaitable<std::string> CircuitBreaker<Clock>::call(Attempt operation) {
  if (state_ == State::open && Clock::now() - opened_at_ >= reset_timeout_)
    become(State::half_open);  // time to find out whether it works again
  if (state_ == State::open || probing_) throw CircuitOpenError();
  probing_ = state_ == State::half_open;
  std::string result;
  std::exception_ptr failure;
  try {
    auto call = operation();
    result = co_await std::move(call);
  } catch (...) {
    failure = std::current_exception();
  }
  probing_ = false;
  if (tut::is_cancellation(failure)) std::rethrow_exception(failure);  // says nothing
  // An error not worth retrying (a 404, an error of ours) is an answer: the dependency works.
  if (!failure || !worth_retrying(failure).retry) {
    failures_ = 0;
    if (state_ != State::closed) become(State::closed);
  } else if (state_ == State::half_open || ++failures_ >= threshold_) {
    failures_ = 0;
    become(State::open);  // (again): stop calling for reset_timeout
  }
  if (failure) std::rethrow_exception(failure);
  co_return result;
}

// ---- the instantiations the program and the tests use ---------------------------------------

template asio::awaitable<std::string> retry<asio::steady_timer>(Attempt, RetryPolicy);
template asio::awaitable<std::string> retry<tut::fake::Timer>(Attempt, RetryPolicy);
template class TokenBucket<asio::steady_timer>;
template class TokenBucket<tut::fake::Timer>;
template class CircuitBreaker<std::chrono::steady_clock>;
template class CircuitBreaker<tut::fake::Clock>;

}  // namespace lesson027
