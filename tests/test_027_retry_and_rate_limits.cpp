// Lesson 027: retry, a token bucket, a circuit breaker, all on lesson 023's fake clock: every
// schedule is checked to the millisecond of fake time and takes milliseconds of real time.
// A scripted dependency plays one step per call; the last tests use the real flaky service
// over TCP on 127.0.0.1 (real sockets, fake timers).
#include "resilience.hpp"

#include <memory>
#include <set>
#include <tuple>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "errors.hpp"
#include "fake_clock.hpp"
#include "resilience_how_it_is_built.hpp"
#include "semaphore.hpp"  // lesson 009
#include "test_support.hpp"
#include "timeouts.hpp"   // lesson 014: TimeoutError

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using namespace lesson027;
using tut::fake::Clock;
using tut::fake::run_fake;
using FakeTimer = tut::fake::Timer;

namespace {

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

asio::awaitable<void> fake_sleep(Clock::duration duration) {
  FakeTimer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// A dependency that plays one step per call (the last one repeats) and records the fake time
// of each call: "ok", "slow" (100 ms, then "ok"), "503", "404", "429 <seconds>", "refused",
// "bug" (a std::logic_error), "hang" (waits for ever; counts its cancellation), "swallow" (waits
// for ever; when cancelled, throws a 503 instead of the cancellation).
struct Script {
  explicit Script(std::vector<std::string> script) : steps(std::move(script)) {}

  std::vector<std::string> steps;
  Clock::time_point start = Clock::now();
  std::vector<milliseconds> calls;
  int cancelled = 0;

  Attempt attempt() {
    return [this] { return play(); };
  }

  asio::awaitable<std::string> play() {
    calls.push_back(since(start));
    const std::string step = steps.at(std::min(calls.size(), steps.size()) - 1);
    if (step == "ok") co_return "ok";
    if (step == "slow") {
      co_await fake_sleep(100ms);
      co_return "ok";
    }
    if (step == "503") throw ServiceError(503, "Service Unavailable", std::nullopt);
    if (step == "404") throw ServiceError(404, "Not Found", std::nullopt);
    if (step.rfind("429 ", 0) == 0)
      throw ServiceError(429, "Too Many Requests", std::chrono::seconds(std::stoi(step.substr(4))));
    if (step == "refused") throw std::system_error(asio::error::connection_refused);
    if (step == "bug") throw std::logic_error("a bug");
    // "hang" / "swallow": a fake wait until max(), which the runner never jumps to.
    bool was_cancelled = false;
    try {
      FakeTimer forever(co_await asio::this_coro::executor, Clock::time_point::max());
      co_await forever.async_wait(asio::use_awaitable);
    } catch (const std::system_error&) {
      was_cancelled = true;
    }
    if (was_cancelled) ++cancelled;
    if (step == "swallow") throw ServiceError(503, "Service Unavailable", std::nullopt);
    throw std::system_error(asio::error::operation_aborted);
  }
};

// Random sources for exact schedules.
Random constant(double value) {
  return [value] { return value; };
}
Random sequence(std::vector<double> values) {  // throws (failing the test) if over-drawn
  auto next = std::make_shared<std::size_t>(0);
  return [values, next] { return values.at((*next)++); };
}

RetryPolicy policy(int max_attempts, milliseconds base, milliseconds cap, Random random) {
  RetryPolicy p;
  p.max_attempts = max_attempts;
  p.base = base;
  p.cap = cap;
  p.random = std::move(random);
  return p;
}

// How a coroutine ended: its value, or its exception.
struct Ending {
  std::string value;
  std::exception_ptr error;
};

asio::awaitable<Ending> ending_of(asio::awaitable<std::string> operation) {
  try {
    auto value = co_await std::move(operation);
    co_return Ending{value, nullptr};
  } catch (...) {
    co_return Ending{"", std::current_exception()};
  }
}

// Runs `operation`; if it is still running after `after` (fake time), cancels it and waits for
// it to end. A parallel group (lesson 004), so the cancelled operation's exception is kept.
asio::awaitable<Ending> cancelled_after(asio::awaitable<std::string> operation,
                                        Clock::duration after) {
  auto executor = co_await asio::this_coro::executor;
  FakeTimer timer(executor, after);
  auto running = asio::co_spawn(executor, std::move(operation), compat::deferred);
  auto timing = timer.async_wait(compat::deferred);
  auto group = asio::experimental::make_parallel_group(std::move(running), std::move(timing));
  auto results = co_await group.async_wait(asio::experimental::wait_for_one(),
                                           asio::use_awaitable);
  co_return Ending{std::get<2>(results), std::get<1>(results)};
}

using tut::test::holds;

int status_of(const std::exception_ptr& error) {
  if (!error) return 0;
  try {
    std::rethrow_exception(error);
  } catch (const ServiceError& e) {
    return e.status;
  } catch (...) {
    return 0;
  }
}

}  // namespace

// ---- the backoff ----------------------------------------------------------------------------

TEST_CASE("backoff_window doubles from base up to the cap, and never overflows") {
  auto p = policy(100, 100ms, 1000ms, constant(0));
  std::vector<milliseconds> windows;
  for (int attempt = 1; attempt <= 6; ++attempt) windows.push_back(backoff_window(p, attempt));
  CHECK(windows == std::vector<milliseconds>{100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms});
  CHECK(backoff_window(p, 10'000) == 1000ms);
  p.cap = p.base;
  CHECK(backoff_window(p, 5) == 100ms);
}

TEST_CASE("seeded_random: the same numbers for the same seed, from 0 up to 1, copies share one generator") {
  Random a = seeded_random(7);
  Random copy = a;
  Random again = seeded_random(7);
  double first = a(), second = copy();
  CHECK(first != second);  // the copy went on with a's generator: no two loops in step
  CHECK(again() == first);
  CHECK(again() == second);
  for (int i = 0; i < 1000; ++i) {
    double u = a();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
  }
}

TEST_CASE("retry waits a random time below the window after each failure: an exact schedule") {
  Script service{{"503", "503", "503", "503", "ok"}};
  auto p = policy(5, 100ms, 1000ms, sequence({0.5, 0.25, 0.75, 0.5}));
  std::vector<std::pair<int, milliseconds>> sleeps;
  p.before_sleep = [&](int attempt, const std::exception_ptr&, milliseconds delay) {
    sleeps.emplace_back(attempt, delay);
  };
  auto value = run_fake(retry<FakeTimer>(service.attempt(), p));
  CHECK(value == "ok");
  // windows 100, 200, 400, 800 ms: waits 50, 50, 300, 400 ms
  using Sleeps = std::vector<std::pair<int, milliseconds>>;
  CHECK(sleeps == Sleeps{{1, 50ms}, {2, 50ms}, {3, 300ms}, {4, 400ms}});
  CHECK(service.calls == std::vector<milliseconds>{0ms, 50ms, 100ms, 400ms, 800ms});
}

TEST_CASE("after max_attempts the last error comes out, the window capped meanwhile") {
  Script service{{"503"}};
  auto start = Clock::now();
  auto ending = run_fake(ending_of(retry<FakeTimer>(service.attempt(),
                                                    policy(6, 100ms, 400ms, constant(0.5)))));
  CHECK(status_of(ending.error) == 503);
  // windows 100, 200, 400, 400, 400: waits 50, 100, 200, 200, 200
  CHECK(service.calls == std::vector<milliseconds>{0ms, 50ms, 150ms, 350ms, 550ms, 750ms});
  CHECK(since(start) == 750ms);  // given up at once after the 6th attempt, no last wait
}

namespace {
// N clients fail together at 0 ms, then each retries on its own policy copy; returns the fake
// times of their second attempts.
std::vector<milliseconds> second_attempts(int clients, Random random) {
  std::vector<Script> services(clients, Script{{"503", "ok"}});
  auto p = policy(2, 1000ms, 1000ms, std::move(random));
  auto all = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    for (auto& service : services)
      asio::co_spawn(executor, retry<FakeTimer>(service.attempt(), p), tut::rethrow);
  };
  run_fake(all());
  std::vector<milliseconds> seconds;
  for (auto& service : services) seconds.push_back(service.calls.at(1));
  return seconds;
}
}  // namespace

TEST_CASE("full jitter: clients that failed together come back apart, without jitter in step") {
  // The same wait for everyone (any backoff without jitter): they all come back at once, and
  // a service that just failed under load gets the whole load again, at the same instant.
  auto in_step = second_attempts(5, constant(0.5));
  CHECK(std::set<milliseconds>(in_step.begin(), in_step.end()).size() == 1);
  // Full jitter, one seeded generator shared by the copies of the policy: all different.
  auto apart = second_attempts(5, seeded_random(1));
  CHECK(std::set<milliseconds>(apart.begin(), apart.end()).size() == 5);
  for (auto t : apart) CHECK(t < 1000ms);
  // And reproducible: the same seed gives the same schedule.
  CHECK(second_attempts(5, seeded_random(1)) == apart);
}

TEST_CASE("a server's Retry-After replaces the backoff, exactly, and draws no random number") {
  Script service{{"429 2", "ok"}};
  int draws = 0;
  auto p = policy(5, 100ms, 1000ms, [&draws] {
    ++draws;
    return 0.5;
  });
  auto value = run_fake(retry<FakeTimer>(service.attempt(), p));
  CHECK(value == "ok");
  CHECK(service.calls == std::vector<milliseconds>{0ms, 2000ms});
  CHECK(draws == 0);
}

TEST_CASE("worth_retrying: overload and network errors yes, other statuses, bugs and cancellation no") {
  auto judge = [](auto error) { return worth_retrying(std::make_exception_ptr(error)); };
  for (int status : {429, 500, 502, 503, 504})
    CHECK(judge(ServiceError(status, "", std::nullopt)).retry);
  for (int status : {400, 401, 404, 501}) CHECK_FALSE(judge(ServiceError(status, "", std::nullopt)).retry);
  CHECK(judge(ServiceError(503, "", 3s)).after == milliseconds(3000));
  CHECK_FALSE(judge(ServiceError(503, "", std::nullopt)).after.has_value());
  CHECK(judge(std::system_error(asio::error::connection_refused)).retry);
  CHECK(judge(std::system_error(asio::error::connection_reset)).retry);
  CHECK(judge(std::system_error(asio::error::eof)).retry);
  CHECK(judge(lesson014::TimeoutError()).retry);
  CHECK_FALSE(judge(std::system_error(asio::error::operation_aborted)).retry);
  CHECK_FALSE(judge(std::system_error(asio::error::access_denied)).retry);
  CHECK_FALSE(judge(std::logic_error("a bug")).retry);
  CHECK_FALSE(judge(CircuitOpenError()).retry);
}

TEST_CASE("an error not worth retrying comes out at once: a 404, a bug") {
  Script not_found{{"404", "ok"}};
  auto ending = run_fake(ending_of(retry<FakeTimer>(not_found.attempt(),
                                                    policy(5, 100ms, 1000ms, constant(0.5)))));
  CHECK(status_of(ending.error) == 404);
  CHECK(not_found.calls == std::vector<milliseconds>{0ms});

  Script buggy{{"bug", "ok"}};
  ending = run_fake(ending_of(retry<FakeTimer>(buggy.attempt(),
                                               policy(5, 100ms, 1000ms, constant(0.5)))));
  CHECK(holds<std::logic_error>(ending.error));
  CHECK(buggy.calls.size() == 1);
}

TEST_CASE("a network error is retried: connection refused, then an answer") {
  Script service{{"refused", "refused", "ok"}};
  auto value = run_fake(retry<FakeTimer>(service.attempt(), policy(5, 100ms, 1000ms, constant(0.5))));
  CHECK(value == "ok");
  CHECK(service.calls == std::vector<milliseconds>{0ms, 50ms, 150ms});
}

// ---- the deadline ---------------------------------------------------------------------------

TEST_CASE("the deadline: no wait that would end past it (tenacity's stop_before_delay)") {
  Script service{{"503"}};
  auto p = policy(10, 400ms, 800ms, constant(0.5));
  p.deadline = 1000ms;
  auto start = Clock::now();
  auto ending = run_fake(ending_of(retry<FakeTimer>(service.attempt(), p)));
  // waits 200, 400; the next 400 would end at 1000, the deadline: give up at 600 with the 503
  CHECK(status_of(ending.error) == 503);
  CHECK(service.calls == std::vector<milliseconds>{0ms, 200ms, 600ms});
  CHECK(since(start) == 600ms);
}

TEST_CASE("the deadline cuts a hung attempt short: lesson 014's TimeoutError, exactly on time") {
  Script service{{"503", "hang"}};
  auto p = policy(10, 200ms, 800ms, constant(0.5));
  p.deadline = 1000ms;
  auto start = Clock::now();
  auto ending = run_fake(ending_of(retry<FakeTimer>(service.attempt(), p)));
  CHECK(holds<lesson014::TimeoutError>(ending.error));
  CHECK(since(start) == 1000ms);
  CHECK(service.calls == std::vector<milliseconds>{0ms, 100ms});
  CHECK(service.cancelled == 1);  // the hung attempt was cancelled and ended
  CHECK_FALSE(tut::fake::PendingWaits::earliest().has_value());
}

TEST_CASE("a Retry-After that ends past the deadline: it gives up at once") {
  Script service{{"429 5", "ok"}};
  auto p = policy(10, 100ms, 1000ms, constant(0.5));
  p.deadline = 3000ms;
  auto start = Clock::now();
  auto ending = run_fake(ending_of(retry<FakeTimer>(service.attempt(), p)));
  CHECK(status_of(ending.error) == 429);
  CHECK(service.calls.size() == 1);
  CHECK(since(start) == 0ms);
}

// ---- cancellation ---------------------------------------------------------------------------

TEST_CASE("cancelled while it waits to retry: the loop stops at once, nothing left pending") {
  Script service{{"503"}};
  auto start = Clock::now();
  auto ending = run_fake(cancelled_after(
      retry<FakeTimer>(service.attempt(), policy(5, 1000ms, 1000ms, constant(0.999))), 250ms));
  CHECK(tut::is_cancellation(ending.error));
  CHECK(since(start) == 250ms);  // not at 999 ms, when the wait would have ended
  CHECK(service.calls.size() == 1);
  CHECK_FALSE(tut::fake::PendingWaits::earliest().has_value());
}

TEST_CASE("cancelled during an attempt: the attempt is cancelled and never retried") {
  for (bool with_deadline : {false, true}) {
    CAPTURE(with_deadline);
    Script service{{"hang", "ok"}};
    auto p = policy(5, 100ms, 1000ms, constant(0.5));
    if (with_deadline) p.deadline = 10s;  // far away: the cancellation comes from outside
    auto start = Clock::now();
    auto ending = run_fake(cancelled_after(retry<FakeTimer>(service.attempt(), p), 250ms));
    // operation_aborted, not TimeoutError: the cancellation came from outside
    CHECK(tut::is_cancellation(ending.error));
    CHECK(since(start) == 250ms);
    CHECK(service.calls.size() == 1);
    CHECK(service.cancelled == 1);
  }
}

TEST_CASE("an attempt that turns its cancellation into a 503 is still not retried") {
  Script service{{"swallow", "ok"}};
  auto start = Clock::now();
  auto ending = run_fake(cancelled_after(
      retry<FakeTimer>(service.attempt(), policy(5, 100ms, 1000ms, constant(0.5))), 250ms));
  // The 503 is judged worth retrying, but the wait that follows sees the recorded cancellation
  // and throws before it starts (throw_if_cancelled, lesson 005).
  CHECK(tut::is_cancellation(ending.error));
  CHECK(since(start) == 250ms);
  CHECK(service.calls.size() == 1);
  CHECK(service.cancelled == 1);
}

TEST_CASE("a policy that makes no sense is refused with a clear error, before any attempt") {
  Script service{{"ok"}};
  auto refused = [&](RetryPolicy p) {
    auto ending = run_fake(ending_of(retry<FakeTimer>(service.attempt(), std::move(p))));
    if (!ending.error) return std::string("not refused");
    try {
      std::rethrow_exception(ending.error);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    } catch (...) {
    }
    return std::string("not refused");
  };
  auto ok = policy(5, 100ms, 1000ms, constant(0.5));
  auto p = ok;
  p.max_attempts = 0;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("max_attempts must be >= 1"));
  p = ok;
  p.max_attempts = -3;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("max_attempts must be >= 1"));
  p = ok;
  p.base = 0ms;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("base must be > 0"));
  p = ok;
  p.base = -5ms;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("base must be > 0"));
  p = ok;
  p.cap = 50ms;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("cap must be >= base"));
  p = ok;
  p.deadline = 0ms;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("deadline must be > 0"));
  p = ok;
  p.judge = nullptr;
  CHECK_THAT(refused(p), tut::test::ContainsSubstring("judge"));
  CHECK(service.calls.empty());
  CHECK(refused(ok) == "not refused");
}

// ---- the token bucket -----------------------------------------------------------------------

TEST_CASE("TokenBucket: a burst at once, then one per interval, in FIFO order, refilled when idle") {
  std::vector<std::pair<int, milliseconds>> starts;
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    TokenBucket<FakeTimer> bucket(executor, 5, 1s, 3);  // 5 per second, 3 at once
    auto start = Clock::now();
    auto take = [&](int n) -> asio::awaitable<void> {
      co_await bucket.acquire();
      starts.emplace_back(n, since(start));
    };
    for (int n = 1; n <= 8; ++n) asio::co_spawn(executor, take(n), tut::rethrow);
    co_await fake_sleep(3s);  // idle long enough to refill (to 3, no more)
    for (int n = 9; n <= 12; ++n) asio::co_spawn(executor, take(n), tut::rethrow);
    co_await fake_sleep(1s);  // `bucket` and `take` outlive every acquire
  };
  run_fake(test());
  using Starts = std::vector<std::pair<int, milliseconds>>;
  CHECK(starts == Starts{{1, 0ms}, {2, 0ms}, {3, 0ms}, {4, 200ms}, {5, 400ms}, {6, 600ms},
                         {7, 800ms}, {8, 1000ms}, {9, 3000ms}, {10, 3000ms}, {11, 3000ms},
                         {12, 3200ms}});
}

TEST_CASE("TokenBucket: a cancelled wait gives its token back only if nobody reserved after it") {
  for (bool cancel_the_last : {true, false}) {
    CAPTURE(cancel_the_last);
    milliseconds b_at{-1}, c_at{-1}, d_at{-1};
    auto test = [&]() -> asio::awaitable<void> {
      auto executor = co_await asio::this_coro::executor;
      TokenBucket<FakeTimer> bucket(executor, 10, 1s, 1);  // one every 100 ms, no burst
      auto start = Clock::now();
      auto take = [&](milliseconds* at) -> asio::awaitable<std::string> {
        co_await bucket.acquire();
        *at = since(start);
        co_return "";
      };
      co_await bucket.acquire();  // a: at once
      // b reserves 100 ms, c reserves 200 ms; one of them is cancelled at 50 ms (the other's
      // cancellation, after 10 s, never comes)
      auto b = cancelled_after(take(&b_at), cancel_the_last ? 10s : 50ms);
      asio::co_spawn(executor, std::move(b), tut::rethrow);
      auto c = cancelled_after(take(&c_at), cancel_the_last ? 50ms : 10s);
      asio::co_spawn(executor, std::move(c), tut::rethrow);
      co_await fake_sleep(60ms);
      co_await take(&d_at);  // d
      co_await fake_sleep(1s);
    };
    run_fake(test());
    if (cancel_the_last) {
      CHECK(b_at == 100ms);
      CHECK(c_at == -1ms);   // cancelled
      CHECK(d_at == 200ms);  // c's slot, given back
    } else {
      CHECK(b_at == -1ms);   // cancelled: its slot at 100 ms stays unused
      CHECK(c_at == 200ms);
      CHECK(d_at == 300ms);
    }
  }
}

TEST_CASE("TokenBucket refuses a rate, period or burst that makes no sense") {
  asio::io_context io;
  auto ex = io.get_executor();
  auto message = [&](int rate, Clock::duration period, int burst) {
    try {
      TokenBucket<FakeTimer> bucket(ex, rate, period, burst);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("not refused");
  };
  CHECK_THAT(message(0, 1s, 1), tut::test::ContainsSubstring("rate must be > 0"));
  CHECK_THAT(message(-5, 1s, 1), tut::test::ContainsSubstring("rate must be > 0"));
  CHECK_THAT(message(5, 0s, 1), tut::test::ContainsSubstring("period must be > 0"));
  CHECK_THAT(message(5, -1s, 1), tut::test::ContainsSubstring("period must be > 0"));
  CHECK_THAT(message(5, 1s, 0), tut::test::ContainsSubstring("burst must be >= 1"));
  CHECK_THAT(message(10, 5ns, 1), tut::test::ContainsSubstring("too high"));
  CHECK(message(5, 1s, 1) == "not refused");
}

namespace {
// Four jobs of `duration` (fake time), each started once `admit` lets it in: their start times
// and the most that ran at once.
struct Jobs {
  std::vector<milliseconds> starts;
  int most = 0;
};

template <class Admit>
asio::awaitable<Jobs> four_jobs(Admit admit, milliseconds duration) {
  Jobs jobs;
  int running = 0;
  auto start = Clock::now();
  auto job = [&]() -> asio::awaitable<void> {
    auto held = co_await admit();
    jobs.starts.push_back(since(start));
    jobs.most = std::max(jobs.most, ++running);
    co_await fake_sleep(duration);
    --running;
  };
  co_await (job() && job() && job() && job());
  co_return jobs;
}
}  // namespace

TEST_CASE("a rate limit paces the starts, a concurrency limit (lesson 009) bounds the overlap") {
  auto test = [](milliseconds duration) -> asio::awaitable<std::pair<Jobs, Jobs>> {
    auto executor = co_await asio::this_coro::executor;
    TokenBucket<FakeTimer> bucket(executor, 5, 1s, 2);
    lesson009::Semaphore semaphore(executor, 2);
    auto take_token = [&]() -> asio::awaitable<lesson009::Permit> {
      co_await bucket.acquire();
      co_return lesson009::Permit();  // a token is spent, not held
    };
    auto take_permit = [&] { return semaphore.acquire(); };
    auto rated = co_await four_jobs(take_token, duration);
    auto limited = co_await four_jobs(take_permit, duration);
    co_return std::pair{rated, limited};
  };
  auto [rated, limited] = run_fake(test(300ms));
  CHECK(rated.starts == std::vector<milliseconds>{0ms, 0ms, 200ms, 400ms});
  CHECK(rated.most == 3);  // a rate limit does not bound how many run at once
  CHECK(limited.starts == std::vector<milliseconds>{0ms, 0ms, 300ms, 300ms});
  CHECK(limited.most == 2);
  // Short jobs: the semaphore lets them start as fast as they finish; the bucket still paces.
  auto [rated_fast, limited_fast] = run_fake(test(10ms));
  CHECK(rated_fast.starts == std::vector<milliseconds>{0ms, 0ms, 200ms, 400ms});
  CHECK(limited_fast.starts == std::vector<milliseconds>{0ms, 0ms, 10ms, 10ms});
}

// ---- the circuit breaker ----------------------------------------------------------------------

namespace {
using Breaker = CircuitBreaker<Clock>;
const char* name_of(Breaker::State state) {
  const char* names[] = {"closed", "open", "half-open"};
  return names[static_cast<int>(state)];
}
}  // namespace

TEST_CASE("CircuitBreaker: closed, open after 2 failures, half-open after 300 ms, closed by a probe") {
  Script service{{"503", "503", "503", "ok"}};
  Breaker breaker(2, 300ms);
  std::vector<std::string> changes;
  breaker.on_change = [&](Breaker::State s) { changes.push_back(name_of(s)); };
  std::vector<std::string> outcomes;
  auto test = [&]() -> asio::awaitable<void> {
    auto start = Clock::now();
    for (auto at : {0ms, 100ms, 200ms, 350ms, 400ms, 500ms, 700ms, 800ms}) {
      co_await fake_sleep(start + at - Clock::now());
      auto ending = co_await ending_of(breaker.call(service.attempt()));
      std::string outcome = !ending.error                          ? ending.value
                            : holds<CircuitOpenError>(ending.error) ? "not called"
                                                                    : "503";
      outcomes.push_back(outcome + ", " + name_of(breaker.state()));
    }
  };
  run_fake(test());
  CHECK(outcomes == std::vector<std::string>{
                        "503, closed",         // 0: the first failure
                        "503, open",           // 100: the second: open until 400
                        "not called, open",    // 200
                        "not called, open",    // 350
                        "503, open",           // 400: half-open, the probe fails: open again
                        "not called, open",    // 500
                        "ok, closed",          // 700: half-open, the probe succeeds
                        "ok, closed"});        // 800
  CHECK(service.calls == std::vector<milliseconds>{0ms, 100ms, 400ms, 700ms, 800ms});
  CHECK(changes == std::vector<std::string>{"open", "half-open", "open", "half-open", "closed"});
}

TEST_CASE("CircuitBreaker: half-open lets one probe through at a time") {
  Script service{{"503", "slow", "ok"}};
  Breaker breaker(1, 100ms);
  Ending during_probe, probe, after;
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    co_await ending_of(breaker.call(service.attempt()));  // 0 ms: 503, open
    co_await fake_sleep(100ms);
    auto probing = [&]() -> asio::awaitable<void> {
      probe = co_await ending_of(breaker.call(service.attempt()));  // slow: 100 ms
    };
    asio::co_spawn(executor, probing(), tut::rethrow);  // runs until its first wait
    during_probe = co_await ending_of(breaker.call(service.attempt()));
    co_await fake_sleep(150ms);  // the probe ends at 200 ms
    after = co_await ending_of(breaker.call(service.attempt()));
  };
  run_fake(test());
  CHECK(holds<CircuitOpenError>(during_probe.error));
  CHECK(probe.value == "ok");
  CHECK(after.value == "ok");
  CHECK(service.calls == std::vector<milliseconds>{0ms, 100ms, 250ms});
  CHECK(breaker.state() == Breaker::State::closed);
}

TEST_CASE("CircuitBreaker: a 404 counts as a success, a cancellation as nothing") {
  Script service{{"503", "404", "503", "hang", "503", "ok"}};
  Breaker breaker(2, 1s);
  std::vector<std::string> states;
  auto test = [&]() -> asio::awaitable<void> {
    for (int call = 0; call < 3; ++call) {  // 503, 404 (it answered: the count starts again), 503
      co_await ending_of(breaker.call(service.attempt()));
      states.push_back(name_of(breaker.state()));
    }
    co_await cancelled_after(breaker.call(service.attempt()), 10ms);  // hang, cancelled
    states.push_back(name_of(breaker.state()));
    co_await ending_of(breaker.call(service.attempt()));  // 503: the second failure in a row
    states.push_back(name_of(breaker.state()));
  };
  run_fake(test());
  CHECK(states == std::vector<std::string>{"closed", "closed", "closed", "closed", "open"});
  CHECK(service.cancelled == 1);
}

TEST_CASE("CircuitBreaker refuses a threshold or reset timeout that makes no sense") {
  CHECK_THROWS_WITH(Breaker(0, 1s), tut::test::ContainsSubstring("failure_threshold must be >= 1"));
  CHECK_THROWS_WITH(Breaker(-1, 1s), tut::test::ContainsSubstring("failure_threshold must be >= 1"));
  CHECK_THROWS_WITH(Breaker(3, -1ms), tut::test::ContainsSubstring("reset_timeout must be >= 0"));
  CHECK_NOTHROW(Breaker(1, 0ms));
}

// ---- over real TCP: the demo's flaky service ----------------------------------------------------

TEST_CASE("over TCP: 503, then 429 with Retry-After: 1, then 200, at exact fake times") {
  std::vector<milliseconds> calls;
  int requests = 0;
  auto real = [&]() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    FlakyService service(executor);
    service.script({"503", "429 1"}, "200 42.17");
    asio::co_spawn(executor, service.serve(), tut::rethrow);
    auto start = Clock::now();
    Attempt get = [&, where = service.endpoint()] {
      calls.push_back(since(start));
      return fetch(where, "/price");
    };
    auto ending = co_await ending_of(
        retry<FakeTimer>(get, policy(5, 100ms, 1000ms, constant(0.5))));
    requests = service.requests();
    service.stop();
    if (ending.error) std::rethrow_exception(ending.error);
    co_return ending.value;
  };
  auto value = run_fake(real());
  CHECK(value == "42.17");
  CHECK(calls == std::vector<milliseconds>{0ms, 50ms, 1050ms});
  CHECK(requests == 3);
}

TEST_CASE("over TCP: a 404 is not retried, a closed port (connection refused) is") {
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    FlakyService service(executor);
    service.script({"404"});
    asio::co_spawn(executor, service.serve(), tut::rethrow);
    Attempt get = [where = service.endpoint()] { return fetch(where, "/price"); };
    auto not_found = co_await ending_of(
        retry<FakeTimer>(get, policy(5, 100ms, 1000ms, constant(0.5))));
    CHECK(status_of(not_found.error) == 404);
    CHECK(service.requests() == 1);
    service.stop();

    // A port nobody listens on any more: a fresh acceptor's, closed.
    asio::ip::tcp::acceptor closed(executor, {asio::ip::make_address("127.0.0.1"), 0});
    auto nobody = closed.local_endpoint();
    closed.close();
    int attempts = 0;
    Attempt refused = [&attempts, nobody] {
      ++attempts;
      return fetch(nobody, "/price");
    };
    auto start = Clock::now();
    auto ending = co_await ending_of(
        retry<FakeTimer>(refused, policy(3, 100ms, 1000ms, constant(0.5))));
    CHECK(holds<std::system_error>(ending.error));
    CHECK((ending.error && worth_retrying(ending.error).retry));
    CHECK(attempts == 3);
    CHECK(since(start) == 150ms);  // waits 50 and 100 ms between the three
  };
  run_fake(test());
}

TEST_CASE("over TCP: the deadline cuts a request the service never answers, and hangs up") {
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    FlakyService service(executor);
    service.script({"hang"});
    asio::co_spawn(executor, service.serve(), tut::rethrow);
    Attempt get = [where = service.endpoint()] { return fetch(where, "/price"); };
    auto p = policy(5, 100ms, 1000ms, constant(0.5));
    p.deadline = 2s;
    auto start = Clock::now();
    auto ending = co_await ending_of(retry<FakeTimer>(get, p));
    CHECK(holds<lesson014::TimeoutError>(ending.error));
    CHECK(since(start) == 2000ms);
    CHECK(service.requests() == 1);
    service.stop();
  };
  // Ends only if the service's hung session ends too: it sees the client hang up (eof).
  run_fake(test());
}
