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
// asyncio.TaskGroup's rules, all kept here:
// 1. Tasks may be spawned by the body and by any child, also after the body has returned:
//    the scope ends only when the body and every child have ended.
// 2. The first failure (an exception that is not a cancellation) cancels every other child
//    and the body; spawn() then refuses new tasks ("shutting down", see below).
// 3. After all have ended, every failure is thrown together: an ExceptionGroup holding each
//    std::exception_ptr, in the order they happened, the body's own failure last.
// 4. Cancelling the parent (the coroutine awaiting with_task_group) cancels every child and
//    the body and still waits for them; then the parent's cancellation propagates as
//    operation_aborted, unless a child failed meanwhile: failures win, as in asyncio.
// 5. A child's cancellation (child.cancel(), or ending in operation_aborted) is no failure.
// 6. spawn() on a finished group throws std::runtime_error ("TaskGroup is finished").
// Where C++ differs (more in how_it_is_built.hpp, which holds the machinery):
// - `async with` is a function taking the body, built on lesson 021's exit stack; the body
//   runs as a child of its own (an Asio coroutine cannot cancel its own frame, as asyncio
//   cancels the parent task to interrupt the body).
// - spawn() runs the child at once up to its first suspension (asyncio only schedules it); on
//   a group that is shutting down it throws operation_aborted (asyncio: RuntimeError).
// - except* is a function returning the rest to rethrow; no BaseExceptionGroup.
// - Not locked: on a multi-threaded io_context open the group in a coroutine on a strand
//   (the children run on that executor); call spawn() and cancel() only from there.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "exit_stack.hpp"  // lesson 021

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
std::pair<std::exception_ptr, std::exception_ptr> split(std::exception_ptr error);

/// `except* E as eg: handler(eg)`: calls handler with an ExceptionGroup of the E's in `error`
/// (a plain E wrapped in one, as Python does), if any, and returns the rest (null if none) to
/// chain the next clause or rethrow. If the handler throws, that is thrown, grouped with the
/// rest if any is left: ExceptionGroup("", {raised, rest}), Python's rule.
template <typename E, typename Handler>
std::exception_ptr except_star(std::exception_ptr error, Handler handler);

struct ChildState;  // how_it_is_built.hpp

/// The handle tg.create_task() returns. Cheap to copy; may outlive the group.
template <typename T = void>
class Child {
 public:
  /// Task.cancel(): a terminal cancellation of this child only; not a failure of the group.
  /// Returns false, doing nothing, once it has ended.
  bool cancel() const;
  bool done() const;
  bool cancelled() const;  // ended by a cancellation (operation_aborted)
  /// Task.result(): its value, or rethrows its exception; std::logic_error if still running
  /// (asyncio's InvalidStateError).
  T result() const;
  /// `await task`: waits until it ends, then result(). If the awaiting coroutine is cancelled,
  /// the child is cancelled too (as in asyncio), and operation_aborted is thrown once it ended.
  asio::awaitable<T> wait() const;

  struct State;
  explicit Child(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

class TaskGroup;
template <typename Body, typename Result = std::invoke_result_t<Body&, TaskGroup>>
Result with_task_group(Body body);  // below

/// asyncio.TaskGroup, as the handle the body and the children use. Cheap to copy: capture it
/// by value (a coroutine parameter by reference would dangle). Made by with_task_group().
class TaskGroup {
 public:
  /// tg.create_task(task): starts `task` now as a child; throws as rules 2 and 6 say.
  template <typename T>
  Child<T> spawn(asio::awaitable<T> task) const { return start(std::move(task), false); }
  /// Children (and the body) still running.
  std::size_t running() const;

  struct State;

 private:  // the machinery: how_it_is_built.hpp and .cpp
  template <typename Body, typename Result>
  friend Result with_task_group(Body body);
  explicit TaskGroup(asio::any_io_executor executor);
  template <typename T>
  Child<T> start(asio::awaitable<T> task, bool is_body) const;
  lesson021::Exit exit() const;  // __aexit__: waits until every child has ended
  std::shared_ptr<State> state_;
};

/// `async with asyncio.TaskGroup() as tg: return await body(tg)`, where body(tg) returns an
/// asio::awaitable<R>. Returns its value once it and every child have ended; throws an
/// ExceptionGroup of the failures, or operation_aborted if the parent was cancelled.
/// With g++ 12, build the body lambda in a variable first (it stays alive here meanwhile).
template <typename Body, typename Result>
Result with_task_group(Body body) {
  using R = typename Result::value_type;
  TaskGroup group(co_await asio::this_coro::executor);
  // Lesson 021's `async with`: the exit runs however the scope is left, also after the
  // parent's cancellation (its awaits complete), and its error (the ExceptionGroup, or the
  // cancellation) is what propagates.
  auto scope = [group, body = std::move(body)](lesson021::AsyncExitStack& stack) mutable
      -> asio::awaitable<std::optional<Child<R>>> {
    stack.push_async_exit(group.exit());
    co_return group.start(body(group), true);  // the body: a child like the others
  };
  std::optional<Child<R>> main = co_await lesson021::with_exit_stack(std::move(scope));
  co_return main->result();
}

}  // namespace lesson022

#include "how_it_is_built.hpp"  // the templates' code
