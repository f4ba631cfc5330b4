// How it is built: the bodies of gather() and gather_outcomes() (declared in gather.hpp), and
// run_all(), the engine under both (its body is in gather_how_it_is_built.cpp). A learner can
// skip this file at lesson 003 and come back: it stops children with cancellation signals and
// slots, which lesson 005 teaches, and lesson 018 shows how to write such operations.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include <asio/awaitable.hpp>

#include "gather.hpp"  // Outcome, and the declarations these bodies belong to

namespace lesson003 {

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

}  // namespace lesson003
