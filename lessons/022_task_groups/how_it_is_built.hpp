// How it is built (lesson 022, optional): the task group's templates. A learner can skip this
// file and how_it_is_built.cpp at this lesson: task_group.hpp says what a TaskGroup promises,
// shutdown.cpp and the demo show it in use. The machinery is lesson 005's (a
// cancellation_signal per child, bound to its co_spawn; a terminal cancellation aborts the
// operation it waits in) and lesson 021's (throw_if_cancelled off around a wait that must
// finish). A child's life: admit() registers it, co_spawn starts it with its signal bound to
// the completion handler, ended() records how it ended; a failure aborts the group (a terminal
// cancellation emitted on every other child and on the body); the group's exit waits until none
// is left.
//
// More differences from asyncio, and why:
// - spawn() on a group that is shutting down throws operation_aborted, a cancellation, not
//   asyncio's RuntimeError: a cancelled Asio coroutine runs on until its next co_await, so a
//   child cancelled by the abort may still call spawn(); it then ends as cancelled, where a
//   RuntimeError would add a failure that asyncio (which stops it at once) never sees.
// - A parent already cancelled when it reaches `co_await with_task_group(...)` (with
//   throw_if_cancelled on, the default) throws operation_aborted before the body runs; asyncio
//   would run the body up to its first await. Either way no child is left behind.
// - A Child handle may outlive the group: it shares the child's state.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>

#include "task_group.hpp"

namespace lesson022 {

/// What the group knows about one child; the cancellation signal is bound to its co_spawn.
struct ChildState {
  explicit ChildState(const asio::any_io_executor& executor);
  asio::cancellation_signal signal;
  // Wakes Child::wait() by being destroyed when the child ends: like every Asio I/O object it
  // must not outlive its io_context, and a Child handle may (to read result() later).
  std::optional<asio::steady_timer> ended;
  std::uint64_t number = 0;  // spawn order: siblings are cancelled in that order
  bool done = false;
  bool is_body = false;
  std::exception_ptr error;  // null, a failure, or operation_aborted
};

template <typename T>
struct Child<T>::State : ChildState {
  using ChildState::ChildState;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
};

bool is_cancelled(const ChildState& child);
asio::awaitable<void> wait_for(std::shared_ptr<ChildState> child);

// The group's bookkeeping (how_it_is_built.cpp).
const asio::any_io_executor& executor_of(const TaskGroup::State& group);
void check_open(const TaskGroup::State& group);
void admit(TaskGroup::State& group, std::shared_ptr<ChildState> child);
void ended(std::shared_ptr<TaskGroup::State> group, std::shared_ptr<ChildState> child,
           std::exception_ptr error);

template <typename T>
bool Child<T>::cancel() const {
  if (state_->done) return false;
  state_->signal.emit(asio::cancellation_type::terminal);
  return true;
}

template <typename T>
bool Child<T>::done() const {
  return state_->done;
}

template <typename T>
bool Child<T>::cancelled() const {
  return is_cancelled(*state_);
}

template <typename T>
T Child<T>::result() const {
  if (!state_->done) throw std::logic_error("Child::result(): the child is still running");
  if (state_->error) std::rethrow_exception(state_->error);
  if constexpr (!std::is_void_v<T>) return *state_->value;
}

template <typename T>
asio::awaitable<T> Child<T>::wait() const {
  auto state = state_;
  co_await wait_for(state);
  co_return Child(state).result();
}

template <typename T>
Child<T> TaskGroup::start(asio::awaitable<T> task, bool is_body) const {
  check_open(*state_);  // first: after the group, its executor's io_context may be gone
  auto child = std::make_shared<typename Child<T>::State>(executor_of(*state_));
  child->is_body = is_body;
  admit(*state_, child);  // before co_spawn: the child may run (and end) before co_spawn returns
  auto on_done = [group = state_, child](std::exception_ptr error, auto... value) {
    if constexpr (sizeof...(value) > 0)
      if (!error) child->value.emplace(std::move(value)...);
    ended(group, child, error);
  };
  asio::co_spawn(executor_of(*state_), std::move(task),
                 asio::bind_cancellation_slot(child->signal.slot(), std::move(on_done)));
  return Child<T>(child);
}

template <typename E>
std::pair<std::exception_ptr, std::exception_ptr> split(std::exception_ptr error) {
  return split(std::move(error), [](std::exception_ptr leaf) {
    try {
      std::rethrow_exception(leaf);
    } catch (const E&) {
      return true;
    } catch (...) {
      return false;
    }
  });
}

template <typename E, typename Handler>
std::exception_ptr except_star(std::exception_ptr error, Handler handler) {
  static_assert(!std::is_base_of_v<ExceptionGroup, E>, "except* cannot match ExceptionGroup");
  auto [matched, rest] = split<E>(std::move(error));
  if (!matched) return rest;
  try {
    std::rethrow_exception(matched);
  } catch (const ExceptionGroup& group) {
    try {
      handler(group);
      return rest;
    } catch (...) {
      if (!rest) throw;
      throw ExceptionGroup("", {std::current_exception(), rest});
    }
  } catch (...) {  // a plain E: the handler still receives a group
    ExceptionGroup group("", {matched});
    try {
      handler(group);
      return rest;
    } catch (...) {
      if (!rest) throw;
      throw ExceptionGroup("", {std::current_exception(), rest});
    }
  }
}

}  // namespace lesson022
