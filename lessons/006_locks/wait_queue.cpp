// How it is built: the WaitQueue of wait_queue.hpp (lesson 006; optional there, lesson 018
// teaches its tools). Compare with CPython's Lib/asyncio/locks.py: each primitive's
// `_waiters` deque of futures, and the `finally: self._waiters.remove(fut)` after each wait.
#include "wait_queue.hpp"

namespace lesson006 {

WaitQueue::WaitQueue(asio::any_io_executor executor, OnWake on_wake)
    : executor_(std::move(executor)), on_wake_(std::move(on_wake)) {}

WaitQueue::~WaitQueue() {
  // Nobody can wake these waiters any more: fail them, as a destroyed steady_timer does,
  // rather than leave their coroutines suspended forever.
  for (auto& waiter : waiters_) {
    waiter->queue = nullptr;  // completions already posted, and cancellations, no longer reach us
    if (waiter->state == State::waiting) {
      waiter->state = State::cancelled;
      post_completion(waiter);
    }
  }
}

void WaitQueue::post_completion(std::shared_ptr<Waiter> waiter) {
  // The posted completion holds the waiter, not the queue: the queue may be destroyed
  // before it runs. asyncio never has to care: a Future keeps its loop, not its Lock.
  auto executor = waiter->work;
  asio::post(executor, [waiter = std::move(waiter)] {
    std::error_code result = asio::error::operation_aborted;
    if (waiter->queue) result = waiter->queue->resume(*waiter);  // erases it from the queue
    waiter->complete(result);
  });
}

void WaitQueue::wake_one(Waiter& waiter) {
  // asyncio: fut.set_result(True). The waiter is only scheduled; it runs on a later turn of
  // the loop, never inside the notifier's call, so nothing recurses or re-enters the caller.
  waiter.state = State::woken;
  post_completion(*waiter.position);
}

std::size_t WaitQueue::wake(std::size_t n) {
  std::size_t woken = 0;
  for (auto it = waiters_.begin(); it != waiters_.end() && woken < n; ++it) {
    if ((*it)->state == State::waiting) {  // skip those already woken or cancelled
      wake_one(**it);
      ++woken;
    }
  }
  return woken;
}

void WaitQueue::cancel(Waiter& waiter) {
  switch (waiter.state) {
    case State::waiting:
      // Nobody chose this waiter yet: it owns nothing, it just leaves with operation_aborted.
      waiter.state = State::cancelled;
      post_completion(*waiter.position);
      break;
    case State::woken:
      // Its wake-up is already posted. As in asyncio (the task was woken, then cancelled
      // before it ran), the cancellation wins: resume() tells the owner, which passes on
      // whatever the wake-up granted.
      waiter.state = State::woken_then_cancelled;
      break;
    case State::woken_then_cancelled:
    case State::cancelled:
      break;  // already on its way out
  }
}

std::error_code WaitQueue::resume(Waiter& waiter) {
  const State state = waiter.state;
  waiters_.erase(waiter.position);  // asyncio: `finally: self._waiters.remove(fut)`
  if (state == State::cancelled) return asio::error::operation_aborted;
  const bool cancelled = state == State::woken_then_cancelled;
  if (on_wake_) return on_wake_(cancelled);
  return cancelled ? std::error_code(asio::error::operation_aborted) : std::error_code();
}

bool WaitQueue::empty() const {
  for (const auto& waiter : waiters_)
    if (waiter->state != State::cancelled) return false;
  return true;
}

std::size_t WaitQueue::waiting() const {
  std::size_t count = 0;
  for (const auto& waiter : waiters_)
    if (waiter->state == State::waiting) ++count;
  return count;
}

}  // namespace lesson006
