// Lesson 022: a task group, the supervisor every later lesson and project runs its tasks in.
//
//   asyncio (3.11+)                                 C++ (this header)
//   async with asyncio.TaskGroup() as tg:           co_await with_task_group(
//       t = tg.create_task(work())                      [](TaskGroup tg) -> awaitable<R> {
//       ...                                               Child<int> t = tg.spawn(work()); ...})
//   t.cancel(), t.done(), t.cancelled(), t.result() child.cancel(), done(), cancelled(), result()
//   await t                                         co_await child.wait()
//   ExceptionGroup, eg.exceptions, eg.split(E)      ExceptionGroup, exceptions(), split<E>()
//   except* E as eg: handle(eg)                     rest = except_star<E>(error, handle)
//
// asyncio.TaskGroup's rules, point by point, all kept here:
// 1. Tasks may be spawned by the body and by any child, also after the body has returned:
//    the scope ends only when the body and every child have ended.
// 2. The first failure (an exception that is not a cancellation) cancels every other child
//    and the body; spawn() then refuses new tasks ("shutting down", see below).
// 3. After all have ended, every failure is thrown together: an ExceptionGroup holding each
//    std::exception_ptr, in the order they happened, the body's own failure last.
// 4. Cancelling the parent (the coroutine awaiting with_task_group) cancels every child and
//    the body and still waits for them; then the parent's cancellation propagates as
//    operation_aborted, unless a child failed meanwhile: failures win, as in asyncio.
// 5. A child's cancellation (child.cancel(), or a child that ends in operation_aborted) is
//    not a failure.
// 6. spawn() on a finished group throws std::runtime_error ("TaskGroup is finished").
// Where C++ differs, and why:
// - `async with` is a function (no co_await in a destructor): the body is a callable taking
//   the group. asyncio cancels the parent task itself to interrupt the body; a coroutine in
//   Asio cannot cancel its own frame, so the body runs as a child of its own, with its own
//   cancellation signal, and with_task_group waits for it with the others.
// - spawn() runs the child at once up to its first suspension (co_spawn from a coroutine on
//   the same executor); asyncio's create_task only schedules it.
// - Cancellation is Asio's (lesson 005): each child has a cancellation_signal bound to its
//   co_spawn; cancelling emits a terminal request, which aborts the operation it waits in.
// - Python's except* is syntax; here it is except_star(): it calls a handler with the
//   ExceptionGroup of the matching exceptions and returns the rest (null if none) for you to
//   rethrow. Python's BaseExceptionGroup (KeyboardInterrupt, SystemExit) has no counterpart.
// - Threads: the children run on the executor of the coroutine that opened the group, and
//   the group's state is not locked. On a multi-threaded io_context, open the group in a
//   coroutine running on a strand; call spawn() and cancel() only from there.
// - spawn() on a group that is shutting down throws operation_aborted (a cancellation, not
//   asyncio's RuntimeError): a cancelled Asio coroutine runs on until its next co_await, so a
//   child cancelled by the abort may still call spawn(); it then ends as cancelled, where a
//   RuntimeError would add a failure that asyncio (which stops it at once) never sees.
// - A parent already cancelled when it reaches `co_await with_task_group(...)` (with
//   throw_if_cancelled on, the default) throws operation_aborted before the body runs; asyncio
//   would run the body up to its first await. Either way no child is left behind.
// - A Child handle may outlive the group: it shares the child's state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

namespace lesson022 {

/// ExceptionGroup: several failures thrown as one. what() reads like Python's str(eg):
/// "unhandled errors in a TaskGroup (2 sub-exceptions)".
class ExceptionGroup : public std::exception {
 public:
  ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions);
  const char* what() const noexcept override { return what_.c_str(); }
  const std::string& message() const { return message_; }
  const std::vector<std::exception_ptr>& exceptions() const { return exceptions_; }

 private:
  std::string message_, what_;
  std::vector<std::exception_ptr> exceptions_;
};

/// ExceptionGroup.split(condition): (the matching leaves, the rest), each an ExceptionGroup
/// with the same message and nested groups kept as groups, or null if empty. `error` may be
/// a plain exception: it is then matched as a whole (returned as is, not wrapped).
std::pair<std::exception_ptr, std::exception_ptr> split(
    std::exception_ptr error, const std::function<bool(std::exception_ptr)>& condition);

/// split() on a type: leaves that are an E (or derive from E).
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

/// `except* E as eg: handler(eg)`. If `error` holds E's, calls handler with an ExceptionGroup
/// of them (a plain E is wrapped in one with an empty message, as Python does) and returns
/// the rest, null if nothing is left; chain calls for several clauses, then rethrow what is
/// left. If the handler throws, its exception is thrown, grouped with the rest if any is
/// left: ExceptionGroup("", {raised, rest}), Python's rule.
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

/// The handle tg.create_task() returns. Cheap to copy; may outlive the group.
template <typename T = void>
class Child {
 public:
  /// Task.cancel(): a terminal cancellation of this child only; not a failure of the group.
  /// Returns false, doing nothing, once it has ended.
  bool cancel() const {
    if (state_->done) return false;
    state_->signal.emit(asio::cancellation_type::terminal);
    return true;
  }
  bool done() const { return state_->done; }
  /// Ended by a cancellation (operation_aborted).
  bool cancelled() const;
  /// Task.result(): its value, or rethrows its exception; std::logic_error if still running
  /// (asyncio's InvalidStateError).
  T result() const {
    if (!state_->done) throw std::logic_error("Child::result(): the child is still running");
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }

  /// `await task`: waits until it ends, then result(). If the awaiting coroutine is cancelled,
  /// the child is cancelled too (as in asyncio), and operation_aborted is thrown once it ended.
  asio::awaitable<T> wait() const {
    auto state = state_;
    co_await wait_for(state);
    co_return Child(state).result();
  }

  struct State : ChildState {
    using ChildState::ChildState;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  };
  explicit Child(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

bool is_cancelled(const ChildState& child);
asio::awaitable<void> wait_for(std::shared_ptr<ChildState> child);
template <typename T>
bool Child<T>::cancelled() const {
  return is_cancelled(*state_);
}

class TaskGroup;
template <typename Body, typename Result = std::invoke_result_t<Body&, TaskGroup>>
Result with_task_group(Body body);  // below

/// asyncio.TaskGroup, as the handle the body and the children use. Cheap to copy: capture it
/// by value (a coroutine parameter by reference would dangle). Made by with_task_group().
class TaskGroup {
 public:
  /// tg.create_task(task): starts `task` now as a child. Throws std::system_error
  /// (operation_aborted) if the group is shutting down (a failure happened, or the parent was
  /// cancelled), std::runtime_error if it has finished.
  template <typename T>
  Child<T> spawn(asio::awaitable<T> task) const {
    return start(std::move(task), false);
  }

  /// Children (and the body) still running.
  std::size_t running() const;

  struct State;

 private:
  template <typename Body, typename Result>
  friend Result with_task_group(Body body);
  explicit TaskGroup(asio::any_io_executor executor);

  template <typename T>
  Child<T> start(asio::awaitable<T> task, bool is_body) const {
    check_open();  // first: after the group, its executor's io_context may be gone
    auto child = std::make_shared<typename Child<T>::State>(executor());
    child->is_body = is_body;
    admit(child);  // before co_spawn: the child may run (and end) before co_spawn returns
    auto on_done = [group = state_, child](std::exception_ptr error, auto... value) {
      if constexpr (sizeof...(value) > 0)
        if (!error) child->value.emplace(std::move(value)...);
      ended(group, child, error);
    };
    asio::co_spawn(executor(), std::move(task),
                   asio::bind_cancellation_slot(child->signal.slot(), std::move(on_done)));
    return Child<T>(child);
  }
  const asio::any_io_executor& executor() const;
  void check_open() const;
  void admit(std::shared_ptr<ChildState> child) const;
  static void ended(std::shared_ptr<State> group, std::shared_ptr<ChildState> child,
                    std::exception_ptr error);
  // Waits until the body and every child have ended, forwarding the parent's cancellation;
  // returns what with_task_group must throw (null: nothing). Never throws.
  asio::awaitable<std::exception_ptr> join();

  std::shared_ptr<State> state_;
};

/// `async with asyncio.TaskGroup() as tg: return await body(tg)`. `body` is called with the
/// group and returns an asio::awaitable<R>; it runs as a task of its own (so a failure can
/// cancel it). Returns its value once it and every child have ended; throws an
/// ExceptionGroup of the failures, or operation_aborted if the parent was cancelled.
/// With g++ 12, build the body lambda in a variable first, then co_await
/// with_task_group(std::move(body)). The lambda stays alive here while its coroutine runs.
template <typename Body, typename Result>
Result with_task_group(Body body) {
  using R = typename Result::value_type;
  TaskGroup group(co_await asio::this_coro::executor);
  Child<R> main = group.start(body(group), true);
  // A cancellation recorded in the parent would make the co_await of join() throw before it
  // starts, leaving the children unwaited: turn the check off around it (lesson 021).
  const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::exception_ptr error = co_await group.join();
  co_await asio::this_coro::throw_if_cancelled(was_checking);
  if (error) std::rethrow_exception(error);
  co_return main.result();
}

}  // namespace lesson022
