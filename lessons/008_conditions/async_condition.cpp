// Lesson 008: the async condition. Compare with CPython's Lib/asyncio/locks.py, class
// Condition: wait() is "release; wait for a notification; re-acquire, whatever happened".
#include "async_condition.hpp"

#include <exception>
#include <limits>
#include <stdexcept>
#include <system_error>

#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace lesson008 {

Condition::Condition(lesson006::Mutex& mutex)
    : mutex_(mutex), waiters_(std::make_shared<lesson006::WaitQueue>(mutex.get_executor())) {}

asio::awaitable<void> Condition::wait() {
  if (!mutex_.locked()) throw std::logic_error("Condition::wait: the mutex is not locked");
  // After the first co_await the condition may be gone (destroyed while we wait): from then
  // on, use only these locals, never a member.
  lesson006::Mutex& mutex = mutex_;
  std::weak_ptr<lesson006::WaitQueue> waiters = waiters_;

  // Once a coroutine is cancelled, Asio makes each later co_await throw at once. We must
  // still re-acquire the mutex below, so switch that off until we are done.
  const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);

  mutex.unlock();  // let the notifier in; nothing else runs before we are queued below
  std::exception_ptr error;
  try {
    co_await waiters_->async_wait(asio::use_awaitable);
  } catch (...) {
    error = std::current_exception();  // cancelled: keep it for after the re-acquire
  }

  // asyncio: "must re-acquire lock even if wait is cancelled". A cancellation that hits
  // this lock() too is remembered, and we queue for the lock again.
  for (;;) {
    try {
      auto guard = co_await mutex.lock();
      guard.release();  // the caller's own guard owns the lock again
      break;
    } catch (const std::system_error&) {
      error = std::current_exception();
    }
  }
  co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);

  if (error) {
    // We may have been notified and then cancelled: hand that notification to the next
    // waiter, or it would be lost (a spurious wake-up is harmless, a lost one is not).
    if (auto queue = waiters.lock()) queue->wake(1);
    std::rethrow_exception(error);
  }
}

asio::awaitable<void> Condition::wait_for(std::function<bool()> predicate) {
  // A wake-up only says "the state may have changed": check it every time.
  while (!predicate()) co_await wait();
}

void Condition::notify(std::size_t n) {
  if (!mutex_.locked()) throw std::logic_error("Condition::notify: the mutex is not locked");
  waiters_->wake(n);  // posts the wake-ups; the woken tasks then queue for the mutex
}

void Condition::notify_all() { notify(std::numeric_limits<std::size_t>::max()); }

}  // namespace lesson008
