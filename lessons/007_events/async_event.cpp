// Lesson 007: the async event. Compare with CPython's Lib/asyncio/locks.py, class Event:
// set() marks every waiter's future done; each waiter returns when its task next runs.
#include "async_event.hpp"

#include <asio/use_awaitable.hpp>

namespace lesson007 {

asio::awaitable<void> Event::wait() {
  // asyncio: `if self._value: return True`, without yielding to the loop.
  if (set_) co_return;
  co_await async_wait(asio::use_awaitable);
}

void Event::set() {
  if (set_) return;
  set_ = true;
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it)
    if (it->state == State::waiting) wake(it);
}

void Event::wake(Iterator waiter) {
  // Only schedules the waiter: its completion is posted and runs on a later turn of the
  // loop. From here on its result is success, whatever clear() does meanwhile.
  waiter->state = State::woken;
  waiter->completion->post(*this, waiter);
}

void Event::cancel(Iterator waiter) {
  switch (waiter->state) {
    case State::waiting:  // leaves now, with operation_aborted
      waiter->state = State::cancelled;
      waiter->completion->post(*this, waiter);
      break;
    case State::woken:  // its completion is already posted; it will report the cancellation
      waiter->state = State::woken_then_cancelled;
      break;
    case State::woken_then_cancelled:
    case State::cancelled:
      break;
  }
}

std::error_code Event::resume(Iterator waiter) {
  const State state = waiter->state;
  waiters_.erase(waiter);
  if (state == State::woken) return {};
  return asio::error::operation_aborted;
}

std::size_t Event::waiting() const {
  std::size_t count = 0;
  for (const auto& waiter : waiters_)
    if (waiter.state == State::waiting) ++count;
  return count;
}

}  // namespace lesson007
