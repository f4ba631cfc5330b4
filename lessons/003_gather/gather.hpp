// Lesson 003: gather, waiting for many tasks. The core functions the demo and the tests call.
//
//   asyncio.gather(a(), b(), c())            co_await (a() && b() && c())          fixed set
//                                            make_parallel_group(...).async_wait(...)
//   asyncio.gather(*coros)                   co_await gather(std::move(coros))     run-time size
//   asyncio.gather(*coros, return_exceptions=True)
//                                            co_await gather_outcomes(std::move(coros))
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

namespace lesson003 {

using std::chrono::milliseconds;

// ---- the children the demo and the tests gather --------------------------------------------

/// A record of what the children did ("b started", "b cancelled"), so a test can see who was
/// cancelled and check that no child is still running once a gather has returned.
/// Single-threaded, like the gathers.
class Journal {
 public:
  void record(const std::string& name, const std::string& what);  // "started", "done", ...
  bool saw(const std::string& event) const;                       // e.g. saw("b cancelled")
  std::vector<std::string> events() const { return events_; }
  /// Children that started and have not yet finished, failed or been cancelled.
  int running() const { return running_; }

 private:
  std::vector<std::string> events_;
  int running_ = 0;
};

/// One child: its name, how long it takes, and whether it fails at the end.
struct Fetch {
  std::string name;
  milliseconds delay;
  bool fails = false;
};

/// The child coroutine: waits `what.delay` on a timer, then returns `what.name`, or throws
/// std::runtime_error("<name> failed") if what.fails. If it is cancelled while it waits, it
/// records "<name> cancelled" and lets the operation_aborted error propagate, like a Python
/// coroutine letting CancelledError propagate. Logs every step and records it in `journal`.
asio::awaitable<std::string> fetch(Fetch what, std::shared_ptr<Journal> journal);

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

/// One child's outcome: its value, or the exception it ended with.
template <typename T>
using Outcome = std::variant<T, std::exception_ptr>;

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

/// What run_all() does when a child throws.
enum class OnError {
  cancel_rest,  // cancel the others, wait for them, rethrow the first error (gather's default)
  collect,      // let the others finish and report every exception (return_exceptions=True)
};

/// The engine under gather(): spawns every child on the current executor (co_spawn), so they
/// run concurrently, and returns only once every child has finished: no child outlives it.
/// Returns each child's exception (null if it succeeded) in submission order. With
/// OnError::cancel_rest, the first child to fail makes it cancel the others and rethrow that
/// first failure. If run_all itself is cancelled (its awaiting coroutine is cancelled through
/// `||` or a bound cancellation slot) it cancels every child, waits for them, and throws
/// asio::system_error(operation_aborted). Needs a single-threaded executor or a strand.
asio::awaitable<std::vector<std::exception_ptr>> run_all(
    std::vector<asio::awaitable<void>> children, OnError on_error);

namespace detail {
// Runs one child and stores its value in its slot: results keep the submission order,
// whatever order the children finish in.
template <typename T>
asio::awaitable<void> store_into(asio::awaitable<T> child,
                                 std::shared_ptr<std::vector<std::optional<T>>> slots,
                                 std::size_t index) {
  auto value = co_await std::move(child);
  (*slots)[index].emplace(std::move(value));
}

template <typename T>
std::vector<asio::awaitable<void>> storing_children(
    std::vector<asio::awaitable<T>> children,
    const std::shared_ptr<std::vector<std::optional<T>>>& slots) {
  std::vector<asio::awaitable<void>> storing;
  storing.reserve(children.size());
  for (std::size_t i = 0; i < children.size(); ++i)
    storing.push_back(store_into(std::move(children[i]), slots, i));
  return storing;
}
}  // namespace detail

/// `await asyncio.gather(*children)` for a vector whose size is known only at run time.
/// Runs the children concurrently and returns their values in submission order. The first
/// child to fail cancels the others; gather waits for them and rethrows that first exception
/// (asyncio.gather would leave the others running: see gather.cpp). Cancelling the gather
/// cancels every child. T is the children's value type (not void).
template <typename T>
asio::awaitable<std::vector<T>> gather(std::vector<asio::awaitable<T>> children) {
  auto slots = std::make_shared<std::vector<std::optional<T>>>(children.size());
  auto storing = detail::storing_children(std::move(children), slots);
  co_await run_all(std::move(storing), OnError::cancel_rest);  // rethrows the first failure
  std::vector<T> results;
  results.reserve(slots->size());
  for (auto& slot : *slots) results.push_back(std::move(*slot));
  co_return results;
}

/// `await asyncio.gather(*children, return_exceptions=True)`: waits for every child, cancels
/// none because one failed, and returns each one's value or exception in submission order.
/// Cancelling it still cancels every child and throws operation_aborted.
template <typename T>
asio::awaitable<std::vector<Outcome<T>>> gather_outcomes(std::vector<asio::awaitable<T>> children) {
  auto slots = std::make_shared<std::vector<std::optional<T>>>(children.size());
  auto storing = detail::storing_children(std::move(children), slots);
  auto errors = co_await run_all(std::move(storing), OnError::collect);
  std::vector<Outcome<T>> outcomes;
  outcomes.reserve(slots->size());
  for (std::size_t i = 0; i < slots->size(); ++i) {
    if (errors[i])
      outcomes.emplace_back(std::in_place_index<1>, errors[i]);
    else
      outcomes.emplace_back(std::in_place_index<0>, std::move(*(*slots)[i]));
  }
  co_return outcomes;
}

/// gather() of fetch() for each spec: the demo's and the tests' usual call.
asio::awaitable<std::vector<std::string>> fetch_all(std::vector<Fetch> specs,
                                                    std::shared_ptr<Journal> journal);

/// gather() raced against a timer: co_await (fetch_all(...) || timer.async_wait(...)).
/// Returns the results, or std::nullopt if `limit` passed first; then `||` has cancelled the
/// gather, which has cancelled every child and waited for them. If a child fails before the
/// limit, rethrows its exception (a plain `||` would wait for the timer and hide it).
asio::awaitable<std::optional<std::vector<std::string>>> fetch_all_within(
    std::vector<Fetch> specs, milliseconds limit, std::shared_ptr<Journal> journal);

}  // namespace lesson003
