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
  // Only schedules the waiters: each completion is posted and runs on a later turn of the
  // loop. From here on their result is success, whatever clear() does meanwhile.
  waiters_.wake(std::numeric_limits<std::size_t>::max());
}

}  // namespace lesson007
