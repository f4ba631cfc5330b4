// How it is built: run_all(), the engine under gather() and gather_outcomes(), and describe(),
// which prints an Outcome. A learner can skip this file at lesson 003 and come back: run_all()
// cancels its children through cancellation signals and slots and notices its own
// cancellation with this_coro::cancellation_state, which lesson 005 teaches; lesson 018 shows
// how to write asynchronous operations of your own.
//
// Asio 1.22 has no make_parallel_group over a run-time range, so run_all() spawns each child
// with co_spawn, records each outcome in its slot, and sleeps on a timer that the children's
// completion handlers cancel to wake it up (a "timer as event").
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "gather.hpp"
#include "run.hpp"

namespace lesson003 {

namespace {

// The state the gatherer shares with its children's completion handlers. It lives as long as
// the last of them (shared_ptr), and is only touched on the gatherer's executor.
struct Group {
  Group(const asio::any_io_executor& executor, std::size_t size)
      : wake(executor, asio::steady_timer::time_point::max()),
        signals(size),
        errors(size),
        finished(size, false),
        running(size) {}

  // A child finished (or failed, or was cancelled): record it and wake the gatherer.
  void child_done(std::size_t index, std::exception_ptr error) {
    finished[index] = true;
    errors[index] = error;
    --running;
    if (error && !first_error) first_error = error;
    wake.cancel();  // a timer that never expires, cancelled to say "something happened"
  }

  // Asks every child still running to stop (once): each sees operation_aborted.
  void cancel_running() {
    if (cancelling) return;
    cancelling = true;
    for (std::size_t i = 0; i < signals.size(); ++i)
      if (!finished[i]) signals[i].emit(asio::cancellation_type::terminal);
  }

  asio::steady_timer wake;
  std::vector<asio::cancellation_signal> signals;  // one per child: how we cancel it
  std::vector<std::exception_ptr> errors;
  std::vector<bool> finished;
  std::size_t running;
  std::exception_ptr first_error;  // the first to happen, not the first in the vector
  bool cancelling = false;
};

bool cancelled(asio::cancellation_type type) { return type != asio::cancellation_type::none; }

}  // namespace

// Printing an exception or an outcome: plumbing for the demos and the tests.
std::string describe(std::exception_ptr error) {
  if (!error) return "none";
  if (tut::is_cancellation(error)) return "cancelled";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  } catch (...) {
    return "error: unknown exception";
  }
}

std::string describe(const Outcome<std::string>& outcome) {
  auto error = error_of(outcome);
  return error ? describe(error) : "value " + std::get<std::string>(outcome);
}

asio::awaitable<std::vector<std::exception_ptr>> run_all(
    std::vector<asio::awaitable<void>> children, OnError on_error) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<std::exception_ptr> no_errors;
  if (children.empty()) co_return no_errors;  // asyncio.gather() with nothing gives []
  if (cancelled((co_await asio::this_coro::cancellation_state).cancelled()))
    throw asio::system_error(asio::error::operation_aborted);  // start nothing

  auto group = std::make_shared<Group>(executor, children.size());
  for (std::size_t i = 0; i < children.size(); ++i) {
    // Each child is a task of its own (lesson 002). Its cancellation slot is bound to our
    // signal i, so group->signals[i].emit() cancels whatever the child is waiting on.
    auto on_done = [group, i](std::exception_ptr error) { group->child_done(i, error); };
    asio::co_spawn(executor, std::move(children[i]),
                   asio::bind_cancellation_slot(group->signals[i].slot(), std::move(on_done)));
  }

  // Sleep until something happens, then look at the state; until no child is running.
  bool cancelled_from_outside = false;
  while (group->running > 0) {
    // as_tuple: the wait ends with operation_aborted every time, as an error code, not a throw.
    co_await group->wake.async_wait(compat::as_tuple(asio::use_awaitable));
    if (cancelled((co_await asio::this_coro::cancellation_state).cancelled())) {
      // Our own awaiter cancelled us. Clear the flag so that our next co_await does not throw
      // at once (Asio's throw_if_cancelled), pass the cancellation on, and wait for them all.
      // The state is shared by the whole awaiting chain (every coroutine from its co_spawn
      // down to us): the reset clears it for our callers too, so they no longer see they
      // were cancelled. That is why we throw operation_aborted ourselves below.
      co_await asio::this_coro::reset_cancellation_state();
      cancelled_from_outside = true;
      group->cancel_running();
    } else if (on_error == OnError::cancel_rest && group->first_error) {
      group->cancel_running();
    }
  }
  // Every child has finished: nothing of ours is still running.
  if (cancelled_from_outside) throw asio::system_error(asio::error::operation_aborted);
  if (on_error == OnError::cancel_rest && group->first_error)
    std::rethrow_exception(group->first_error);
  co_return std::move(group->errors);
}

}  // namespace lesson003
