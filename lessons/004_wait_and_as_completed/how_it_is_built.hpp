// How it is built: AsCompleted's queue of results (declared in wait.hpp), included by wait.cpp
// only. A learner can skip this file at lesson 004 and come back: it waits on a timer used as
// an event and reads this_coro::cancellation_state, which lesson 005 teaches; lesson 018 shows
// how to write such asynchronous operations.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "wait.hpp"

namespace lesson004 {

// Shared by AsCompleted and every job's completion handler, so it lives until the last of them.
struct AsCompleted::State {
  State(asio::any_io_executor executor, std::size_t jobs)
      : wakeup(executor, asio::steady_timer::time_point::max()),
        running(jobs, true),
        remaining(jobs) {
    for (std::size_t i = 0; i < jobs; ++i)
      signals.push_back(std::make_unique<asio::cancellation_signal>());
  }

  // A job ended, however it ended: queue its result and wake the next() that may be waiting.
  void job_done(Completed completed) {
    running[completed.index] = false;
    results.push_back(std::move(completed));
    wakeup.cancel();
  }

  // Finished jobs not yet handed out. A result leaves the queue only when next() returns it,
  // so a next() cancelled at any moment loses nothing (asyncio's Queue.get() works the same
  // way). Why not an experimental::channel: a receive that completes in the same turn as its
  // cancellation has already taken the message, and in Asio 1.22 cancelling a receive on a
  // buffered channel leaves it refusing every later try_send.
  std::deque<Completed> results;
  // The wake-up call: next() waits on this timer, which never expires; a job that ends
  // cancels the wait. asyncio's Queue uses a future the same way.
  asio::steady_timer wakeup;
  // One cancellation signal per job, bound to its co_spawn: emitting it cancels that job.
  // A signal must outlive the operation it is bound to, hence unique_ptr (stable addresses)
  // inside the shared state.
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
  std::vector<bool> running;
  std::size_t remaining = 0;  // results not yet handed out by next()
  bool receiving = false;     // a next() is in progress
};

// "A next() is in progress", from the call of next() until its coroutine frame is destroyed
// (awaited to the end, or dropped unawaited): the frame owns the Claim, a by-value parameter.
// Set at the call, not when the coroutine first runs, or two calls made before either is
// awaited (`next() && next()`) would both pass the check, and with one result left one of
// them would wait forever.
struct AsCompleted::Claim {
  std::shared_ptr<State> state;
  explicit Claim(std::shared_ptr<State> claimed) : state(std::move(claimed)) {
    state->receiving = true;
  }
  Claim(Claim&& other) noexcept : state(std::move(other.state)) {}
  ~Claim() {
    if (state) state->receiving = false;  // null when moved from
  }
};

std::size_t AsCompleted::remaining() const { return state_->remaining; }

asio::awaitable<Completed> AsCompleted::next() {
  // Checked now, when next() is called, so misuse fails at the call site.
  if (state_->remaining == 0)
    throw std::logic_error("AsCompleted::next(): every job has already been handed out");
  if (state_->receiving) throw std::logic_error("AsCompleted::next(): already waiting");
  return receive(Claim(state_));
}

asio::awaitable<Completed> AsCompleted::receive(Claim claim) {
  auto& state = claim.state;
  asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  const auto cancelled_at_start = cancellation.cancelled();
  while (state->results.empty()) {
    // Ends with operation_aborted both when a job wakes us and when next() is cancelled:
    // the cancellation state tells them apart. If both happen in the same turn, the
    // cancellation wins and the result stays queued for the next call.
    co_await state->wakeup.async_wait(compat::as_tuple(asio::use_awaitable));
    if (cancellation.cancelled() != cancelled_at_start)
      throw std::system_error(asio::error::operation_aborted, "AsCompleted::next() cancelled");
  }
  Completed completed = std::move(state->results.front());
  state->results.pop_front();
  --state->remaining;
  co_return completed;
}

}  // namespace lesson004
