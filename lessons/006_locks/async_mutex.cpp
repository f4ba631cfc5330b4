// Lesson 006: the async mutex. Compare with CPython's Lib/asyncio/locks.py, class Lock: the
// same three moves (fast path, FIFO queue, "wake the first; it takes the lock when it runs").
#include "async_mutex.hpp"

#include <stdexcept>

#include <asio/use_awaitable.hpp>

namespace lesson006 {

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
  // Not locked: the coroutine frame holding us is being destroyed inside Condition::wait()
  // (lesson 008), which had unlocked it, because its io_context is destroyed. Nothing to do.
  if (mutex_ && mutex_->locked()) mutex_->unlock();
}

void LockGuard::unlock() {
  if (!mutex_) throw std::logic_error("LockGuard::unlock: the guard owns no lock");
  std::exchange(mutex_, nullptr)->unlock();
}

}  // namespace lesson006
