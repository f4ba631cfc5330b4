// Lesson 009: semaphores. A job runner that uses one, then the Semaphore itself: a counter on
// lesson 006's WaitQueue. Compare with CPython's Lib/asyncio/locks.py, class Semaphore.
#include "semaphore.hpp"

#include <algorithm>
#include <string>

#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gather.hpp"  // lesson 003's gather()
#include "log.hpp"

namespace lesson009 {

// ---- the use: at most `limit` jobs at a time --------------------------------------------

namespace {

struct Jobs {
  Jobs(asio::any_io_executor executor, int max_running)
      : semaphore(std::move(executor), max_running), limit(max_running) {}
  Semaphore semaphore;
  int limit;
  int running = 0;
  std::vector<int> start_order;
};

// Returns how many jobs were running, itself included, once it had its permit.
asio::awaitable<int> job(int number, milliseconds duration, Jobs* jobs) {
  auto name = "job-" + std::to_string(number);
  if (jobs->semaphore.locked()) tut::log(name, "waiting for a permit");
  // `async with semaphore:` -- the permit lives until the end of this scope.
  auto permit = co_await jobs->semaphore.acquire();
  const int running_now = ++jobs->running;
  jobs->start_order.push_back(number);
  tut::log(name, "got a permit, running {} of at most {}", running_now, jobs->limit);

  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);

  --jobs->running;
  tut::log(name, "done after {}, releases its permit", tut::seconds(duration));
  co_return running_now;
}  // ~Permit: release(), which wakes the next waiting job

}  // namespace

asio::awaitable<LimitReport> run_limited(std::vector<milliseconds> durations, int limit) {
  auto executor = co_await asio::this_coro::executor;
  Jobs jobs(executor, limit);
  std::vector<asio::awaitable<int>> tasks;
  for (std::size_t i = 0; i < durations.size(); ++i)
    tasks.push_back(job(static_cast<int>(i + 1), durations[i], &jobs));
  // asyncio.gather(*tasks) (lesson 003). `jobs` outlives every job: gather waits for them all.
  auto running = co_await lesson003::gather(std::move(tasks));
  LimitReport report{0, std::move(jobs.start_order)};
  for (int each : running) report.max_running = std::max(report.max_running, each);
  co_return report;
}

// ---- Permit -----------------------------------------------------------------------------

Permit& Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    release();
    semaphore_ = std::exchange(other.semaphore_, nullptr);
  }
  return *this;
}

void Permit::release() {
  if (auto* semaphore = std::exchange(semaphore_, nullptr)) semaphore->release();
}

// ---- Semaphore: a counter on a WaitQueue ------------------------------------------------

Semaphore::Semaphore(asio::any_io_executor executor, int value)
    : Semaphore(std::move(executor), value, false) {}

Semaphore::Semaphore(asio::any_io_executor executor, int value, bool bounded)
    : value_(value),
      bounded_(bounded),
      bound_(value),
      waiters_(std::move(executor), [this](bool cancelled) { return on_wake(cancelled); }) {
  if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
}

asio::awaitable<Permit> Semaphore::acquire() {
  if (!locked()) {
    // asyncio's fast path: a free permit and nobody ahead of us. Take it without suspending.
    --value_;
    co_return Permit(*this);
  }
  // Otherwise queue up. When this resumes without throwing, the permit is ours: wrap it at
  // once (no co_await in between) so that nothing can lose it.
  co_await async_acquire(asio::use_awaitable);
  co_return Permit(*this);
}

void Semaphore::release() {
  if (bounded_ && value_ >= bound_) throw ReleasedTooManyTimes();
  ++value_;
  wake_waiters();
}

bool Semaphore::take_free_permit() {
  if (value_ == 0) return false;
  --value_;  // reserved for the newcomer, who is woken at once
  return true;
}

// asyncio's _wake_up_next(), for every free permit: the longest waiter is woken and the permit
// reserved for it now (value_ goes down), so nobody else can take it before the waiter runs.
void Semaphore::wake_waiters() {
  while (value_ > 0 && waiters_.wake(1) == 1) --value_;
}

// A woken waiter resumes. Not cancelled: the reserved permit is its own. Cancelled after being
// woken: it must not keep the permit, so it hands it on (asyncio: `self._value += 1` in
// acquire()'s except clause, then _wake_up_next()).
std::error_code Semaphore::on_wake(bool cancelled) {
  if (!cancelled) return {};
  ++value_;
  wake_waiters();
  return asio::error::operation_aborted;
}

}  // namespace lesson009
