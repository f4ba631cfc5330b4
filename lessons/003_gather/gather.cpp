// Lesson 003: gather, waiting for many tasks.
//
// asyncio.gather(*aws) runs the awaitables concurrently and returns their results in the
// order they were passed, whatever order they finish in. Asio gives two tools for a set of
// children fixed at compile time, and we build the third, for a vector, ourselves:
//
//   a && b && c               (awaitable_operators) results as a tuple; the first failure
//                             cancels the others, but its exception can be lost (below).
//   make_parallel_group(...)  the machinery under &&: spawn the children with
//                             co_spawn(..., deferred), then async_wait(wait_for_all()) for
//                             every outcome, or wait_for_one_error() to stop at a failure.
//   gather(vector)            Asio 1.22 has no parallel_group over a run-time range, so
//                             run_all() below spawns each child with co_spawn, stores each
//                             outcome in its slot, and sleeps on a timer that the last child
//                             to finish wakes up (a "timer as event").
//
// Error policies, compared with asyncio:
// - asyncio.gather() propagates the first exception to the awaiter at once, but does NOT
//   cancel the other children: they keep running, unobserved. asyncio.TaskGroup (3.11) cancels
//   the others and waits for them. gather() here does what TaskGroup does, and rethrows the
//   first exception as gather does (TaskGroup would raise an ExceptionGroup of all of them).
//   Why: in C++ a child that outlives its gather may use objects the caller has destroyed,
//   and a later exception would have nobody to go to. Structured concurrency: when gather
//   returns or throws, none of its children is running.
// - return_exceptions=True: gather_outcomes() waits for all and returns value-or-exception.
// - Cancelling the gather cancels every child that has not finished, as in asyncio. Here the
//   gather also waits for all of them before it throws operation_aborted; asyncio's gather
//   (without return_exceptions) raises CancelledError as soon as the first child has been
//   cancelled, while the others may still be unwinding.
// - A child that ends with operation_aborted on its own counts as a failure like any other.
//   (asyncio.gather treats a cancelled child as one that raised CancelledError, too.)
#include "gather.hpp"

#include <algorithm>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/multiple_exceptions.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "log.hpp"

namespace lesson003 {

// ---- the children ------------------------------------------------------------------------------

void Journal::record(const std::string& name, const std::string& what) {
  if (what == "started")
    ++running_;
  else
    --running_;  // done, failed or cancelled
  events_.push_back(name + " " + what);
}

bool Journal::saw(const std::string& event) const {
  return std::find(events_.begin(), events_.end(), event) != events_.end();
}

asio::awaitable<std::string> fetch(Fetch what, std::shared_ptr<Journal> journal) {
  journal->record(what.name, "started");
  tut::log(what.name, "started, takes {}", tut::seconds(what.delay));
  asio::steady_timer timer(co_await asio::this_coro::executor, what.delay);
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (const asio::system_error& error) {
    // Cancellation reaches a coroutine as operation_aborted from the operation it waits on,
    // as CancelledError reaches a Python coroutine at its await. Note it and let it propagate.
    if (error.code() == asio::error::operation_aborted) {
      journal->record(what.name, "cancelled");
      tut::log(what.name, "cancelled");
    }
    throw;
  }
  if (what.fails) {
    journal->record(what.name, "failed");
    tut::log(what.name, "failed");
    throw std::runtime_error(what.name + " failed");
  }
  journal->record(what.name, "done");
  tut::log(what.name, "done");
  co_return what.name;
}

// ---- a fixed set of children -------------------------------------------------------------------

asio::awaitable<std::array<std::string, 3>> gather_with_and(Fetch a, Fetch b, Fetch c,
                                                            std::shared_ptr<Journal> journal) {
  using namespace asio::experimental::awaitable_operators;
  // && starts both sides concurrently and waits for both; a && b && c is (a && b) && c and
  // gives a tuple of three. If one side throws, && cancels the other side and waits for it.
  // If that side then ends with an exception too (its cancellation, operation_aborted), &&
  // throws asio::multiple_exceptions holding only the *left* side's exception. So when b
  // fails: the inner && cancels a and throws multiple_exceptions(a's operation_aborted); the
  // outer && cancels c and throws multiple_exceptions(that one). "b failed" is in neither
  // (Asio 1.22.1 and 1.38.2 alike). Only a leftmost child's failure survives, innermost.
  auto all_three = fetch(a, journal) && fetch(b, journal) && fetch(c, journal);
  auto [first, second, third] = co_await std::move(all_three);
  co_return std::array<std::string, 3>{first, second, third};
}

Unwrapped unwrap(std::exception_ptr error) {
  Unwrapped found{error, 0};
  for (;;) {
    try {
      if (found.innermost) std::rethrow_exception(found.innermost);
      return found;
    } catch (const asio::multiple_exceptions& several) {
      found.innermost = several.first_exception();  // look inside, and around again
      ++found.layers;
    } catch (...) {
      return found;  // not a multiple_exceptions: this is the innermost
    }
  }
}

asio::awaitable<GroupResult> gather_with_group(Fetch a, Fetch b, Fetch c,
                                               std::shared_ptr<Journal> journal) {
  auto executor = co_await asio::this_coro::executor;
  // co_spawn(..., deferred) does not start anything: it packages the child as an operation
  // that the group starts, all three together, in async_wait.
  auto group = asio::experimental::make_parallel_group(
      asio::co_spawn(executor, fetch(a, journal), compat::deferred),
      asio::co_spawn(executor, fetch(b, journal), compat::deferred),
      asio::co_spawn(executor, fetch(c, journal), compat::deferred));
  // wait_for_all: every child runs to its end, failures included (wait_for_one_error() would
  // cancel the others at the first failure). The completion gives the completion order, then
  // each child's (exception_ptr, value) pair, in the order written.
  auto wait = group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  auto [order, error_a, value_a, error_b, value_b, error_c, value_c] = co_await std::move(wait);
  auto outcome = [](std::exception_ptr error, std::string value) -> Outcome<std::string> {
    if (error) return error;
    return value;
  };
  co_return GroupResult{
      {order[0], order[1], order[2]},
      {outcome(error_a, value_a), outcome(error_b, value_b), outcome(error_c, value_c)}};
}

// ---- any number of children --------------------------------------------------------------------
//
// run_all() cancels its children through cancellation signals and slots, and notices its own
// cancellation with this_coro::cancellation_state: lesson 005 explains these; here, read them
// as "how gather stops its children".

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

asio::awaitable<std::vector<std::string>> fetch_all(std::vector<Fetch> specs,
                                                    std::shared_ptr<Journal> journal) {
  std::vector<asio::awaitable<std::string>> children;
  for (auto& spec : specs) children.push_back(fetch(std::move(spec), journal));
  co_return co_await gather(std::move(children));
}

namespace {
// What the gather side of the race returns. Not a std::variant: `||` flattens a variant
// result into its own variant, which would make the indices below confusing.
struct Gathered {
  std::vector<std::string> results;
  std::exception_ptr error;
};

// || ends at the first side to *succeed*: a gather that failed would not end the race, and
// the timer would win later, hiding the error. So this side returns its exception as a value.
asio::awaitable<Gathered> fetch_all_caught(std::vector<Fetch> specs,
                                           std::shared_ptr<Journal> journal) {
  try {
    auto results = co_await fetch_all(std::move(specs), journal);  // not inside braces: g++ 12
    co_return Gathered{std::move(results), nullptr};
  } catch (...) {
    co_return Gathered{{}, std::current_exception()};
  }
}
}  // namespace

asio::awaitable<std::optional<std::vector<std::string>>> fetch_all_within(
    std::vector<Fetch> specs, milliseconds limit, std::shared_ptr<Journal> journal) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  // Both sides start together. When the timer wins, || cancels the gather side: the gather
  // cancels its children and returns once they have all finished, and only then does ||
  // complete. Nothing is left running behind us.
  auto race = fetch_all_caught(std::move(specs), journal) || timer.async_wait(asio::use_awaitable);
  auto winner = co_await std::move(race);
  if (winner.index() == 1) co_return std::nullopt;  // the time limit passed first
  auto gathered = std::get<0>(std::move(winner));
  if (gathered.error) std::rethrow_exception(gathered.error);
  co_return std::move(gathered.results);
}

}  // namespace lesson003
