// Lesson 003: gather, waiting for many tasks.
//
// asyncio.gather(*aws) runs the awaitables concurrently and returns their results in the
// order they were passed, whatever order they finish in. Asio gives two tools for a set of
// children fixed at compile time, and lesson 003 adds a third, for a vector:
//
//   a && b && c               (awaitable_operators) results as a tuple; the first failure
//                             cancels the others, but its exception can be lost (below).
//   make_parallel_group(...)  the machinery under &&: spawn the children with
//                             co_spawn(..., deferred), then async_wait(wait_for_all()) for
//                             every outcome, or wait_for_one_error() to stop at a failure.
//   gather(vector)            no ranged parallel_group in Asio 1.22: gather() co_spawns each
//                             child itself (gather_how_it_is_built.cpp, optional reading).
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
// - A child that ends with operation_aborted on its own counts as a failure like any other
//   (as in asyncio.gather: a cancelled child is one that raised CancelledError).
#include "gather.hpp"

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
  co_return GroupResult{{order[0], order[1], order[2]},
                       {make_outcome(error_a, value_a), make_outcome(error_b, value_b),
                        make_outcome(error_c, value_c)}};
}

// ---- any number of children (gather() itself: gather_how_it_is_built.hpp) ------------------

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
