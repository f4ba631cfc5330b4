// Lesson 003: gather, waiting for many tasks. The core functions the demo and the tests call.
//
//   asyncio.gather(a(), b(), c())            co_await (a() && b() && c())          fixed set
//                                            make_parallel_group(...).async_wait(...)
//   asyncio.gather(*coros)                   co_await gather(std::move(coros))     run-time size
//   asyncio.gather(*coros, return_exceptions=True)
//                                            co_await gather_outcomes(std::move(coros))
//
// gather() and gather_outcomes() are the tutorial's gather, which later lessons reuse. How
// they are built (gather_how_it_is_built.hpp/.cpp) is optional reading here.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>

#include "journal.hpp"

namespace lesson003 {

using std::chrono::milliseconds;
using tut::Journal;  // what the children did: "b: started", "b: cancelled" (common/journal.hpp)

// ---- the children the demo and the tests gather --------------------------------------------

/// One child: its name, how long it takes, and whether it fails at the end.
struct Fetch {
  std::string name;
  milliseconds delay;
  bool fails = false;
};

/// The child coroutine: waits `what.delay` on a timer, then returns `what.name`, or throws
/// std::runtime_error("<name> failed") if what.fails. If it is cancelled while it waits, it
/// records "cancelled" and lets the operation_aborted error propagate, like a Python coroutine
/// letting CancelledError propagate. Logs every step and records it in `journal` ("started",
/// then "done", "failed" or "cancelled").
asio::awaitable<std::string> fetch(Fetch what, std::shared_ptr<Journal> journal);

/// One child's outcome: its value, or the exception it ended with (the tutorial's one Outcome:
/// gather_outcomes() returns them, lesson 004 reuses it).
template <typename T>
using Outcome = std::variant<T, std::exception_ptr>;

/// An (exception_ptr, value) completion, as co_spawn and parallel groups report it, as an Outcome.
template <typename T>
Outcome<T> make_outcome(std::exception_ptr error, T value) {
  if (error) return Outcome<T>(std::in_place_index<1>, error);
  return Outcome<T>(std::in_place_index<0>, std::move(value));
}

/// The exception an outcome holds, or null if it holds a value.
template <typename T>
std::exception_ptr error_of(const Outcome<T>& outcome) {
  auto* error = std::get_if<std::exception_ptr>(&outcome);
  return error ? *error : nullptr;
}

/// For printing: an exception as "none", "cancelled" (operation_aborted) or "error: <what>",
/// an Outcome as "value <v>" or as its exception. Lesson 021 prints exceptions with it too.
std::string describe(std::exception_ptr error);
std::string describe(const Outcome<std::string>& outcome);

// ---- a fixed set of children -----------------------------------------------------------------

/// `await asyncio.gather(fetch(a), fetch(b), fetch(c))` with awaitable operators:
/// co_await (fetch(a) && fetch(b) && fetch(c)). Results come in the order written. If one
/// child throws, && cancels the others and throws, but not always the child's exception: when
/// b fails, what comes out is asio::multiple_exceptions around another one around a's
/// operation_aborted, and "b failed" is lost (see gather.cpp). gather() below keeps it.
asio::awaitable<std::array<std::string, 3>> gather_with_and(Fetch a, Fetch b, Fetch c,
                                                            std::shared_ptr<Journal> journal);

/// What && threw, opened as you would open it to find the cause: while it is an
/// asio::multiple_exceptions, take its first_exception(), the only one it keeps.
struct Unwrapped {
  std::exception_ptr innermost;  // the first exception that is not a multiple_exceptions
  int layers = 0;                // how many multiple_exceptions were around it
};
Unwrapped unwrap(std::exception_ptr error);

/// What make_parallel_group reports: every outcome in the order written, plus the order in
/// which the children completed (indices into `outcomes`).
struct GroupResult {
  std::array<std::size_t, 3> completion_order;
  std::array<Outcome<std::string>, 3> outcomes;
};

/// The same gather with asio::experimental::make_parallel_group(...).async_wait(wait_for_all(),
/// ...): waits for all three, never throws, and reports each outcome (like
/// return_exceptions=True) and the completion order.
asio::awaitable<GroupResult> gather_with_group(Fetch a, Fetch b, Fetch c,
                                               std::shared_ptr<Journal> journal);

// ---- any number of children, known only at run time --------------------------------------

/// `await asyncio.gather(*children)` for a vector whose size is known only at run time: runs
/// the children concurrently and returns their values in submission order. The first
/// child to fail cancels the others; gather waits for them and rethrows that first exception
/// (asyncio.gather would leave the others running: see gather.cpp). Cancelling the gather
/// cancels every child, waits for them and throws operation_aborted: when it returns or
/// throws, none of its children is running. T is the children's value type (not void).
/// Needs a single-threaded executor or a strand.
template <typename T>
asio::awaitable<std::vector<T>> gather(std::vector<asio::awaitable<T>> children);

/// `await asyncio.gather(*children, return_exceptions=True)`: waits for every child, cancels
/// none because one failed, and returns each one's value or exception in submission order.
/// Cancelling it still cancels every child and throws operation_aborted.
template <typename T>
asio::awaitable<std::vector<Outcome<T>>> gather_outcomes(std::vector<asio::awaitable<T>> children);

/// gather() of fetch() for each spec: the demo's and the tests' usual call.
asio::awaitable<std::vector<std::string>> fetch_all(std::vector<Fetch> specs,
                                                    std::shared_ptr<Journal> journal);

/// gather() raced against a timer: co_await (fetch_all(...) || timer.async_wait(...)). Returns
/// the results, or std::nullopt if `limit` passed first (then `||` has cancelled the gather,
/// which has cancelled every child and waited for them). A child failing before the limit:
/// rethrows its exception (a plain `||` would wait for the timer and hide it).
asio::awaitable<std::optional<std::vector<std::string>>> fetch_all_within(
    std::vector<Fetch> specs, milliseconds limit, std::shared_ptr<Journal> journal);

}  // namespace lesson003

// The bodies of gather() and gather_outcomes(): how they are built, optional reading.
#include "gather_how_it_is_built.hpp"
