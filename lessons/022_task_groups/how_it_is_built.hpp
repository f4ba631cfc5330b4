// How it is built (lesson 022, optional): the task group's templates. A learner can skip this
// file and how_it_is_built.cpp at this lesson: task_group.hpp says what a TaskGroup promises,
// shutdown.cpp and the demo show it in use. The machinery is lesson 005's (a
// cancellation_signal per child, bound to its co_spawn; a terminal cancellation aborts the
// operation it waits in), lesson 007's Event (wakes whoever waits for a child or the group)
// and lesson 021's (throw_if_cancelled off around a wait that must finish). A child's life:
// admit() registers it, co_spawn starts it with its signal bound to the completion handler,
// ended() records how it ended; a failure aborts the group (a terminal cancellation emitted on
// every other child and on the body); the group's exit waits until none is left.
// One more difference from asyncio: a parent already cancelled when it reaches `co_await
// with_task_group(...)` (with throw_if_cancelled on, the default) throws operation_aborted
// before the body runs; asyncio would run the body up to its first await. Either way no child
// is left behind.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>

#include "async_event.hpp"  // lesson 007
#include "task_group.hpp"

namespace lesson022 {

/// What the group knows about one child; the cancellation signal is bound to its co_spawn.
struct ChildState {
  explicit ChildState(const asio::any_io_executor& executor) : ended(executor) {}
  asio::cancellation_signal signal;
  lesson007::Event ended;  // set when the child has ended: wakes Child::wait()
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
ExceptionGroup as_group(std::exception_ptr error);  // a plain exception: in a group of its own

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
bool Child<T>::done() const { return state_->done; }

template <typename T>
bool Child<T>::cancelled() const { return is_cancelled(*state_); }

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
    handler(as_group(matched));
  } catch (...) {
    if (!rest) throw;
    throw ExceptionGroup("", {std::current_exception(), rest});
  }
  return rest;
}

}  // namespace lesson022
