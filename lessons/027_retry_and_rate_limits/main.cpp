// Lesson 027 demo: a client of a flaky service (on 127.0.0.1, in this process) that fails,
// rate-limits with 429 and Retry-After, then recovers. Retry with full jitter and Retry-After,
// what is not retried, the deadline, cancellation; then a rate limit and a concurrency limit
// side by side, and a circuit breaker. Each part starts its clock at 0.0s.
#include <algorithm>
#include <functional>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "demo.hpp"
#include "log.hpp"
#include "resilience.hpp"
#include "resilience_how_it_is_built.hpp"
#include "run.hpp"
#include "semaphore.hpp"  // lesson 009
#include "timeouts.hpp"   // lesson 014: sleep, TimeoutError

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using namespace lesson027;

namespace {

std::string message(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

// GET /price from the service, logging each attempt; `attempts` counts them.
Attempt get_price(FlakyService& service, int& attempts) {
  return [where = service.endpoint(), &attempts] {
    tut::log("client", "attempt {}: GET /price", ++attempts);
    return fetch(where, "/price");
  };
}

// Up to 6 attempts, windows `base`, twice that... up to 1s, jitter from `random`; each wait is
// logged.
RetryPolicy logged_policy(Random random, milliseconds base = 100ms) {
  RetryPolicy policy;
  policy.max_attempts = 6;
  policy.base = base;
  policy.cap = 1s;
  policy.random = std::move(random);
  policy.before_sleep = [policy](int attempt, const std::exception_ptr& error, milliseconds d) {
    auto after = worth_retrying(error).after;
    std::string why = after ? "the server's Retry-After"
                            : fmt::format("random, below {}", backoff_window(policy, attempt));
    tut::log("client", "{}: retry in {} ({})", message(error), d, why);
  };
  return policy;
}

asio::awaitable<void> try_to_get(FlakyService& service, RetryPolicy policy) {
  int attempts = 0;
  auto plural = [&attempts] { return attempts == 1 ? "" : "s"; };
  try {
    auto price = co_await retry<asio::steady_timer>(get_price(service, attempts), policy);
    tut::log("main", "got {} after {} attempt{}", price, attempts, plural());
  } catch (const lesson014::TimeoutError&) {
    tut::log("main", "TimeoutError after {} attempt{}: the deadline passed", attempts, plural());
  } catch (const std::exception& e) {
    tut::log("main", "gave up after {} attempt{}: {}", attempts, plural(), e.what());
  }
}

// Four jobs of 0.3s, each started once `admit` lets it in; logs the starts and the most jobs
// that ran at once.
asio::awaitable<void> four_jobs(std::string name,
                                std::function<asio::awaitable<lesson009::Permit>()> admit) {
  int running = 0, most = 0;
  auto job = [&](int n) -> asio::awaitable<void> {
    auto held = co_await admit();  // a semaphore's permit, held until the job ends
    most = std::max(most, ++running);
    tut::log(fmt::format("{}-{}", name, n), "starts");
    co_await lesson014::sleep(300ms);
    --running;
  };
  co_await (job(1) && job(2) && job(3) && job(4));
  tut::log("main", "{}: at most {} running at once", name, most);
}

asio::awaitable<void> demo() {
  auto executor = co_await asio::this_coro::executor;
  FlakyService service(executor);
  asio::co_spawn(executor, service.serve(), tut::rethrow);

  tut::part("1. retry: 503, 503, then 429 with Retry-After: 1, then 200");
  service.script({"503", "503", "429 1"});
  co_await try_to_get(service, logged_policy(seeded_random(27)));

  tut::part("2. a 404 is not worth retrying");
  service.script({"404"});
  co_await try_to_get(service, logged_policy(seeded_random(27)));

  tut::part("3. a deadline of 1s: it cuts a hung attempt short, and waits for nothing past it");
  service.script({"503", "hang", "429 5"});
  auto with_deadline = logged_policy(seeded_random(27));
  with_deadline.deadline = 1s;
  co_await try_to_get(service, with_deadline);
  tut::log("main", "again, with a new deadline 1s away");
  co_await try_to_get(service, with_deadline);

  tut::part("4. cancelled 0.3s in, while it waits 0.8s to retry: it stops at once");
  service.script({}, "503");
  int attempts = 0;
  auto retrying = retry<asio::steady_timer>(get_price(service, attempts),
                                            logged_policy([] { return 0.8; }, 1s));
  auto timeout = lesson014::sleep(300ms);
  co_await (std::move(retrying) || std::move(timeout));
  tut::log("main", "cancelled after {} attempt", attempts);
  co_await lesson014::sleep(600ms);
  tut::log("main", "still {} attempt at 0.9s: the retry due at 0.8s never came", attempts);

  tut::part("5. a rate limit (5/s, burst 2) and a concurrency limit (2 at a time), side by side");
  TokenBucket<asio::steady_timer> bucket(executor, 5, 1s, 2);
  auto take_token = [&]() -> asio::awaitable<lesson009::Permit> {
    co_await bucket.acquire();
    co_return lesson009::Permit();  // a token is spent, not held: nothing to give back
  };
  co_await four_jobs("rate", take_token);
  tut::reset_clock();
  lesson009::Semaphore semaphore(executor, 2);
  co_await four_jobs("conc", [&] { return semaphore.acquire(); });

  tut::part("6. a circuit breaker: open after 2 failures in a row, a probe 0.3s later");
  service.script({"503", "503", "503"}, "200 42.17");
  CircuitBreaker<std::chrono::steady_clock> breaker(2, 300ms);
  breaker.on_change = [](auto state) {
    const char* names[] = {"closed", "open", "half-open"};
    tut::log("breaker", "{}", names[static_cast<int>(state)]);
  };
  auto fetch_price = [where = service.endpoint()] { return fetch(where, "/price"); };
  auto start = std::chrono::steady_clock::now();
  asio::steady_timer tick(executor);
  for (int call = 1; call <= 7; ++call) {
    tick.expires_at(start + (call - 1) * 200ms);  // every 0.2s, without drift
    co_await tick.async_wait(asio::use_awaitable);
    try {
      auto price = co_await breaker.call(fetch_price);
      tut::log("client", "call {}: {}", call, price);
    } catch (const std::exception& e) {
      tut::log("client", "call {}: {}", call, e.what());
    }
  }
  tut::log("main", "7 calls, {} requests reached the service", service.requests());
  service.stop();
}

}  // namespace

int main() { tut::run(demo()); }
