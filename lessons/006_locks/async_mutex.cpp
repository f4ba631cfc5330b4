// Lesson 006: the async mutex. Compare with CPython's Lib/asyncio/locks.py, class Lock: the
// same three moves (fast path, FIFO queue, "wake the first; it takes the lock when it runs").
#include "async_mutex.hpp"

#include <stdexcept>

#include <asio/use_awaitable.hpp>

namespace lesson006 {

// ---- WaitQueue --------------------------------------------------------------------------

WaitQueue::WaitQueue(asio::any_io_executor executor, OnWake on_wake)
    : executor_(std::move(executor)), on_wake_(std::move(on_wake)) {}

void WaitQueue::wake_one(Iterator waiter) {
  // asyncio: fut.set_result(True). The waiter is only scheduled; it runs on a later turn of
  // the loop, never inside the notifier's call, so nothing recurses or re-enters the caller.
  waiter->state = State::woken;
  waiter->completion->post(*this, waiter);
}

std::size_t WaitQueue::wake(std::size_t n) {
  std::size_t woken = 0;
  for (auto it = waiters_.begin(); it != waiters_.end() && woken < n; ++it) {
    if (it->state == State::waiting) {  // skip those already woken or cancelled
      wake_one(it);
      ++woken;
    }
  }
  return woken;
}

void WaitQueue::cancel(Iterator waiter) {
  switch (waiter->state) {
    case State::waiting:
      // Nobody chose this waiter yet: it owns nothing, it just leaves with operation_aborted.
      waiter->state = State::cancelled;
      waiter->completion->post(*this, waiter);
      break;
    case State::woken:
      // Its wake-up is already posted. As in asyncio (the task was woken, then cancelled
      // before it ran), the cancellation wins: resume() tells the owner, which passes on
      // whatever the wake-up granted.
      waiter->state = State::woken_then_cancelled;
      break;
    case State::woken_then_cancelled:
    case State::cancelled:
      break;  // already on its way out
  }
}

std::error_code WaitQueue::resume(Iterator waiter) {
  const State state = waiter->state;
  waiters_.erase(waiter);  // asyncio: `finally: self._waiters.remove(fut)`
  if (state == State::cancelled) return asio::error::operation_aborted;
  const bool cancelled = state == State::woken_then_cancelled;
  if (on_wake_) return on_wake_(cancelled);
  return cancelled ? std::error_code(asio::error::operation_aborted) : std::error_code();
}

bool WaitQueue::empty() const {
  for (const auto& waiter : waiters_)
    if (waiter.state != State::cancelled) return false;
  return true;
}

std::size_t WaitQueue::waiting() const {
  std::size_t count = 0;
  for (const auto& waiter : waiters_)
    if (waiter.state == State::waiting) ++count;
  return count;
}

// ---- Mutex ------------------------------------------------------------------------------

Mutex::Mutex(asio::any_io_executor executor)
    : waiters_(std::move(executor), [this](bool cancelled) { return on_wake(cancelled); }) {}

asio::awaitable<LockGuard> Mutex::lock() {
  // Fast path, as asyncio's acquire(): a free mutex with nobody queued is taken without
  // suspending, so other tasks do not get a turn here.
  if (!try_lock()) co_await async_lock(asio::use_awaitable);
  co_return LockGuard(*this, std::adopt_lock);
}

bool Mutex::try_lock() {
  if (locked_ || !waiters_.empty()) return false;
  locked_ = true;
  return true;
}

void Mutex::unlock() {
  if (!locked_) throw std::logic_error("Mutex::unlock: the mutex is not locked");
  locked_ = false;
  waiters_.wake(1);  // only wakes; the waiter locks when it resumes (on_wake)
}

std::error_code Mutex::on_wake(bool cancelled) {
  // The woken waiter is resuming now. Nobody can have taken the lock meanwhile: try_lock and
  // async_lock see the woken waiter in the queue and wait behind it.
  if (cancelled) {
    // Woken, then cancelled before it ran: it must not keep the lock, and must not swallow
    // the wake-up either, or the next waiter would wait forever. asyncio: _wake_up_first().
    if (!locked_) waiters_.wake(1);
    return asio::error::operation_aborted;
  }
  locked_ = true;
  return {};
}

// ---- LockGuard --------------------------------------------------------------------------

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
  if (this != &other) {
    if (mutex_) mutex_->unlock();
    mutex_ = std::exchange(other.mutex_, nullptr);
  }
  return *this;
}

LockGuard::~LockGuard() {
  if (mutex_) mutex_->unlock();
}

void LockGuard::unlock() {
  if (!mutex_) throw std::logic_error("LockGuard::unlock: the guard owns no lock");
  std::exchange(mutex_, nullptr)->unlock();
}

}  // namespace lesson006
