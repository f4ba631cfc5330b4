// How it is built: lesson 011's Barrier state machine, which you can skip at this lesson
// (barrier.hpp says what it does; lesson 018 teaches the async_initiate and cancellation-slot
// machinery). Two lists hold the pending waits: inside_ (counted in the current phase) and
// blocked_ (arrived while the previous phase drains or resets). Waking a waiter posts its
// resume(); resume() looks at the state *then* and decides: index, BrokenBarrierError,
// cancelled, or, for a blocked waiter, enter the phase (or stay blocked). This is asyncio's
// Barrier, whose tasks re-check the state when they re-acquire its internal Condition.
#include "barrier.hpp"

#include <algorithm>

#include <asio/error.hpp>
#include <asio/post.hpp>

namespace lesson011 {

namespace {
std::exception_ptr cancelled() {
  return std::make_exception_ptr(
      std::system_error(asio::error::make_error_code(asio::error::operation_aborted)));
}
std::exception_ptr broken_error(const char* what) {
  return std::make_exception_ptr(BrokenBarrierError(what));
}
}  // namespace

Barrier::Barrier(asio::any_io_executor executor, std::size_t parties)
    : executor_(std::move(executor)), parties_(parties) {
  if (parties < 1) throw std::invalid_argument("parties must be >= 1");
}

Barrier::~Barrier() {
  // Nobody can ever trip this barrier again: fail the pending waits rather than leave their
  // coroutines suspended forever. A woken waiter's posted resume sees owner == nullptr.
  for (auto* list : {&inside_, &blocked_}) {
    for (auto& waiter : *list) {
      waiter->owner = nullptr;
      if (!waiter->woken && waiter->pending()) {
        waiter->place = Waiter::Place::done;
        post_completion(waiter, cancelled());
      }
    }
  }
}

// asyncio's wait(): `_block()` (held back while draining or resetting, fail if broken), then
// count in.
void Barrier::arrive(std::shared_ptr<Waiter> waiter) {
  waiter->owner = this;
  if (waiter->slot.is_connected()) {
    Waiter* raw = waiter.get();
    waiter->slot.assign([raw](asio::cancellation_type type) {
      if (raw->owner != nullptr && type != asio::cancellation_type::none) raw->owner->cancel(raw);
    });
  }
  switch (state_) {
    case State::filling:
      enter(std::move(waiter));
      break;
    case State::broken:
      waiter->place = Waiter::Place::done;
      post_completion(std::move(waiter), broken_error("Barrier aborted"));
      break;
    case State::draining:
    case State::resetting:
      waiter->place = Waiter::Place::blocked;
      blocked_.push_back(std::move(waiter));
      break;
  }
}

// Counts the waiter in; the arrival that completes the count trips the barrier.
void Barrier::enter(std::shared_ptr<Waiter> waiter) {
  waiter->place = Waiter::Place::inside;
  waiter->woken = false;
  inside_.push_back(std::move(waiter));
  if (inside_.size() == parties_) {
    state_ = State::draining;
    std::size_t index = 0;
    for (auto& each : inside_) each->index = index++;  // arrival order: 0 .. parties-1
    wake(inside_);
  }
}

// Posts a resume() for every waiter of `waiters` not already woken: the caller (the tripping
// arrival, reset(), abort(), the last task to leave) never runs them inside its own call.
void Barrier::wake(WaiterList& waiters) {
  for (auto& waiter : waiters) {
    if (waiter->woken || !waiter->pending()) continue;  // not pending: its io_context is gone
    waiter->woken = true;
    asio::post(waiter->executor, [waiter] {
      if (waiter->owner != nullptr) {
        waiter->owner->resume(waiter);
      } else {
        waiter->complete(cancelled(), 0);  // the barrier is gone
      }
    });
  }
}

// A woken waiter runs and looks at the state now.
void Barrier::resume(const std::shared_ptr<Waiter>& waiter) {
  waiter->woken = false;
  if (waiter->place == Waiter::Place::blocked) {
    // asyncio's `_block()` loop: the barrier stopped draining or resetting when we were woken,
    // but it may have tripped again since. Decide on the current state.
    blocked_.remove(waiter);
    if (waiter->cancel_requested) {
      waiter->place = Waiter::Place::done;
      waiter->complete(cancelled(), 0);
    } else if (state_ == State::broken) {
      waiter->place = Waiter::Place::done;
      waiter->complete(broken_error("Barrier aborted"), 0);
    } else if (state_ == State::filling) {
      enter(waiter);  // now counted in this phase; it completes when the phase trips
    } else {
      blocked_.push_back(waiter);  // draining or resetting again: wait once more
    }
    return;
  }

  // Inside: the barrier tripped, or was reset or aborted, after this waiter counted in.
  inside_.remove(waiter);  // asyncio: `self._count -= 1` in wait()'s finally clause
  waiter->place = Waiter::Place::done;
  std::exception_ptr error;
  if (waiter->cancel_requested) {
    error = cancelled();
  } else if (state_ == State::broken || state_ == State::resetting) {
    error = broken_error("Abort or reset of barrier");
  }
  leave();
  waiter->complete(error, error ? 0 : waiter->index);
  // Nothing after complete(): the resumed coroutine may already have destroyed *this.
}

// asyncio's _exit(): when the last task of a drained or reset phase has left, the barrier is
// filling again and the arrivals held back may come in.
void Barrier::leave() {
  if (!inside_.empty()) return;
  if (state_ == State::draining || state_ == State::resetting) state_ = State::filling;
  wake(blocked_);
}

void Barrier::cancel(Waiter* waiter) {
  if (waiter->place == Waiter::Place::done) return;
  if (waiter->woken) {
    waiter->cancel_requested = true;  // its resume() is posted: it fails there
    return;
  }
  // Still waiting: leave now. Inside, that can only be while filling (every other state has
  // woken all of inside_), so the count just goes down by one and the state stays the same.
  bool was_inside = waiter->place == Waiter::Place::inside;
  auto owned = take(was_inside ? inside_ : blocked_, waiter);
  owned->place = Waiter::Place::done;
  post_completion(std::move(owned), cancelled());
  if (was_inside) leave();
}

void Barrier::reset() {
  if (!inside_.empty()) {
    // Tasks inside (waiting, or woken and about to run): they fail with BrokenBarrierError,
    // and arrivals are held back until the last has left.
    state_ = State::resetting;
    wake(inside_);
  } else {
    state_ = State::filling;
    wake(blocked_);
  }
}

void Barrier::abort() {
  state_ = State::broken;
  wake(inside_);
  wake(blocked_);
}

std::shared_ptr<Barrier::Waiter> Barrier::take(WaiterList& waiters, Waiter* waiter) {
  auto it = std::find_if(waiters.begin(), waiters.end(),
                         [waiter](const auto& each) { return each.get() == waiter; });
  auto owned = std::move(*it);
  waiters.erase(it);
  return owned;
}

void Barrier::post_completion(std::shared_ptr<Waiter> waiter, std::exception_ptr error) {
  auto executor = waiter->executor;
  asio::post(executor, [waiter = std::move(waiter), error = std::move(error)]() mutable {
    waiter->complete(std::move(error), 0);
  });
}

}  // namespace lesson011
