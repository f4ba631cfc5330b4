// Lesson 009: semaphores. The Semaphore's bookkeeping, and a job runner that uses it.
//
// The whole primitive is a counter (value_) and a FIFO queue of pending acquire operations.
// Every change of state ends in wake_waiters(), which hands free permits to queued waiters in
// order. A woken waiter is not finished: its completion is posted, and only when it runs
// (resume) does the waiter keep the permit, or give it back if it was cancelled meanwhile.
#include "semaphore.hpp"

#include <algorithm>
#include <string>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace lesson009 {

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

// ---- Semaphore --------------------------------------------------------------------------

Semaphore::Semaphore(asio::any_io_executor executor, int value)
    : Semaphore(std::move(executor), value, false) {}

Semaphore::Semaphore(asio::any_io_executor executor, int value, bool bounded)
    : executor_(std::move(executor)), value_(value), bounded_(bounded), bound_(value) {
  if (value < 0) throw std::invalid_argument("Semaphore initial value must be >= 0");
}

Semaphore::~Semaphore() {
  // Nobody can ever release to these waiters again: fail them rather than leave their
  // coroutines suspended forever. Their completions no longer touch this object.
  for (auto& waiter : queue_) {
    waiter->owner = nullptr;
    if (waiter->state == Waiter::State::queued) {
      waiter->state = Waiter::State::done;
      post_completion(waiter, asio::error::operation_aborted);
    }
    // A woken waiter's posted resume sees owner == nullptr and fails the same way.
  }
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

void Semaphore::enqueue(std::shared_ptr<Waiter> waiter) {
  waiter->owner = this;
  if (waiter->slot.is_connected()) {
    // The cancellation handler runs when someone emits the signal bound to this operation
    // (bind_cancellation_slot, or `||` cancelling the losing coroutine).
    Waiter* raw = waiter.get();
    waiter->slot.assign([raw](asio::cancellation_type type) {
      if (raw->owner != nullptr && type != asio::cancellation_type::none) raw->owner->cancel(raw);
    });
  }
  // Always at the back: no barging, even if a permit is free right now (then wake_waiters()
  // wakes this waiter at once, unless earlier ones are still queued).
  queue_.push_back(std::move(waiter));
  wake_waiters();
}

void Semaphore::release() {
  if (bounded_ && value_ >= bound_) throw ReleasedTooManyTimes();
  ++value_;
  wake_waiters();
}

// Hands free permits to queued waiters, oldest first. Waking reserves the permit (value_ goes
// down now, as in asyncio's _wake_up_next) and posts the waiter's resumption: the notifier
// (release(), a cancelled waiter, ...) never runs the woken task inside its own call.
void Semaphore::wake_waiters() {
  for (auto& waiter : queue_) {
    if (value_ == 0) break;
    if (waiter->state != Waiter::State::queued) continue;  // already woken, still to run
    --value_;
    waiter->state = Waiter::State::woken;
    asio::post(waiter->executor, [waiter] {
      if (waiter->owner != nullptr) {
        waiter->owner->resume(waiter);
      } else {
        waiter->complete(asio::error::operation_aborted);  // the semaphore is gone
      }
    });
  }
}

// The woken waiter runs: only now does it take its permit, unless it was cancelled after
// being woken. Then it passes the permit on (asyncio: `self._value += 1` in acquire()'s
// except clause, then the finally clause wakes the next waiter).
void Semaphore::resume(const std::shared_ptr<Waiter>& waiter) {
  queue_.remove(waiter);
  waiter->state = Waiter::State::done;
  if (waiter->cancel_requested) {
    ++value_;
    wake_waiters();
    waiter->complete(asio::error::operation_aborted);
  } else {
    waiter->complete({});
  }
  // Nothing after complete(): the resumed coroutine may already have destroyed *this.
}

void Semaphore::cancel(Waiter* waiter) {
  switch (waiter->state) {
    case Waiter::State::queued: {
      // Not woken yet: it holds no permit. Just leave the queue and fail.
      auto it = std::find_if(queue_.begin(), queue_.end(),
                             [waiter](const auto& each) { return each.get() == waiter; });
      auto owned = *it;
      queue_.erase(it);
      owned->state = Waiter::State::done;
      post_completion(std::move(owned), asio::error::operation_aborted);
      break;
    }
    case Waiter::State::woken:
      // Its wake-up is already posted and a permit reserved for it: let resume() decide.
      waiter->cancel_requested = true;
      break;
    case Waiter::State::done:
      break;
  }
}

void Semaphore::post_completion(std::shared_ptr<Waiter> waiter, std::error_code error) {
  auto executor = waiter->executor;
  asio::post(executor, [waiter = std::move(waiter), error] { waiter->complete(error); });
}

// ---- the job runner ---------------------------------------------------------------------

namespace {

struct Jobs {
  Jobs(asio::any_io_executor executor, int max_running)
      : semaphore(std::move(executor), max_running), limit(max_running) {}
  Semaphore semaphore;
  int limit;
  int running = 0;
  LimitReport report;
};

asio::awaitable<void> job(int number, milliseconds duration, Jobs* jobs) {
  auto name = "job-" + std::to_string(number);
  if (jobs->semaphore.locked()) tut::log(name, "waiting for a permit");
  // `async with semaphore:` -- the permit lives until the end of this scope.
  auto permit = co_await jobs->semaphore.acquire();
  ++jobs->running;
  jobs->report.max_running = std::max(jobs->report.max_running, jobs->running);
  jobs->report.start_order.push_back(number);
  tut::log(name, "got a permit, running {} of at most {}", jobs->running, jobs->limit);

  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, duration);
  co_await timer.async_wait(asio::use_awaitable);

  --jobs->running;
  tut::log(name, "done after {}, releases its permit", tut::seconds(duration));
}  // ~Permit: release(), which wakes the next waiting job

// asyncio.gather for a vector of tasks: `a && b` runs both concurrently (awaitable operators),
// so a && (b && (c && ...)) runs them all. Parameters by value: coroutines outlive the caller.
asio::awaitable<void> gather(std::vector<asio::awaitable<void>> tasks) {
  using namespace asio::experimental::awaitable_operators;
  if (tasks.empty()) co_return;
  auto first = std::move(tasks.front());
  tasks.erase(tasks.begin());
  auto all = std::move(first) && gather(std::move(tasks));
  co_await std::move(all);
}

}  // namespace

asio::awaitable<LimitReport> run_limited(std::vector<milliseconds> durations, int limit) {
  auto executor = co_await asio::this_coro::executor;
  Jobs jobs(executor, limit);
  std::vector<asio::awaitable<void>> tasks;
  for (std::size_t i = 0; i < durations.size(); ++i) {
    tasks.push_back(job(static_cast<int>(i + 1), durations[i], &jobs));
  }
  co_await gather(std::move(tasks));  // `jobs` outlives every job: we wait for all of them
  co_return jobs.report;
}

}  // namespace lesson009
