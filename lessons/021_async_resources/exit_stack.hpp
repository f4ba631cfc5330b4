// Lesson 021: an async exit stack, the tool every later lesson closes its resources with.
//
//   Python (contextlib)                          C++ (this header)
//   @asynccontextmanager async def open_x():     asio::awaitable<Entered<T>> open_x(): the
//       setup; yield x; cleanup                  value, and an Exit that awaits the cleanup
//   async with open_x() as x: body               co_await async_with(open_x(), body)
//   async with AsyncExitStack() as stack: body   co_await with_exit_stack(body)
//   enter_async_context, push_async_exit,        the same names
//   push_async_callback, pop_all, aclose
//
// CPython's AsyncExitStack semantics, point by point: the exits run in reverse order, once,
// however the body ends (returns, throws, is cancelled); each receives the error propagating
// at that moment and may suppress it by returning true; an exit that throws replaces the
// error and the remaining exits still run; an opener that throws pushes nothing, so only the
// resources opened before it are closed.
// Where C++ differs, and why:
// - No co_await in a destructor or a catch block: `async with` is a function. with_exit_stack
//   catches the body's exception into a std::exception_ptr, awaits the exits, then rethrows.
//   A stack destroyed without aclose() runs nothing.
// - After a terminal cancellation every co_await throws before it starts (lesson 005), which
//   would skip the cleanup. The exits run with this_coro::throw_if_cancelled(false), restored
//   after: the cleanup's awaits complete, the request stays recorded and is still reported,
//   the coroutine's filter is kept. As in asyncio, a second cancel interrupts the await it
//   hits (that exit fails with operation_aborted) and the other exits still run.
// - Python keeps a replaced error as __context__; C++ has no such slot: it is lost.
// - Every exit is async. A suppressed error leaves a non-void body no value: R{} is returned.
// - Give exits as plain lambdas that call a coroutine with their captures as parameters (a
//   coroutine lambda's captures die with the lambda). With g++ 12, build a body lambda in a
//   variable before `co_await with_exit_stack(std::move(body))`: a lambda temporary inside a
//   co_await expression is miscompiled.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

namespace lesson021 {

/// An __aexit__: awaits the cleanup. Receives the propagating error (null if none); returns
/// true to suppress it.
using Exit = std::function<asio::awaitable<bool>(std::exception_ptr)>;
/// A cleanup that does not care how the body ended (push_async_callback).
using Callback = std::function<asio::awaitable<void>()>;

/// What an @asynccontextmanager coroutine gives back: the value `async with ... as` binds, and
/// the exit that closes it.
template <typename T>
struct Entered {
  T value;
  Exit exit;
};

/// contextlib.AsyncExitStack. Use from one executor (like everything in asyncio).
class AsyncExitStack {
 public:
  AsyncExitStack() = default;
  AsyncExitStack(AsyncExitStack&&) = default;
  AsyncExitStack& operator=(AsyncExitStack&&) = default;

  /// Adds an exit; the last one added runs first.
  void push_async_exit(Exit exit) { exits_.push_back(std::move(exit)); }
  /// Adds a cleanup that runs whatever the error (it never suppresses one).
  void push_async_callback(Callback callback);

  /// Awaits `opener`; if it succeeds, pushes its exit and returns its value. If it throws,
  /// nothing is pushed and the exception propagates.
  template <typename T>
  asio::awaitable<T> enter_async_context(asio::awaitable<Entered<T>> opener) {
    Entered<T> entered = co_await std::move(opener);
    push_async_exit(std::move(entered.exit));
    co_return std::move(entered.value);
  }

  /// Moves every exit to a new stack and leaves this one empty: the resources now belong to
  /// whoever holds the returned stack (open several, hand them all over only if all opened).
  AsyncExitStack pop_all() { return std::exchange(*this, AsyncExitStack()); }

  /// Number of exits not run yet.
  std::size_t size() const { return exits_.size(); }

  /// Runs every exit in reverse order with `error` propagating and returns what is left:
  /// `error`, the last exception an exit threw, or null. Never throws. Its exits' awaits
  /// complete after a cancellation, but the co_await of unwind() itself is checked first: in a
  /// coroutine that may have been cancelled, turn throw_if_cancelled off before it, as
  /// with_exit_stack does, or it throws operation_aborted and no exit runs.
  asio::awaitable<std::exception_ptr> unwind(std::exception_ptr error);

  /// Runs every exit with no error propagating; rethrows the last exception an exit threw.
  /// (See unwind() for calling it in a coroutine that may have been cancelled.)
  asio::awaitable<void> aclose();

 private:
  std::vector<Exit> exits_;
};

/// `async with AsyncExitStack() as stack: return await body(stack)`. `body` is called with
/// the stack and returns an asio::awaitable<R>; every exit it pushed runs when it ends, on
/// every path; then its value is returned or its (remaining) error rethrown.
template <typename Body, typename Result = std::invoke_result_t<Body&, AsyncExitStack&>>
Result with_exit_stack(Body body) {
  using R = typename Result::value_type;
  AsyncExitStack stack;
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
  try {
    Result pending = body(stack);
    if constexpr (std::is_void_v<R>) {
      co_await std::move(pending);
      result.emplace(true);
    } else {
      R value = co_await std::move(pending);
      result.emplace(std::move(value));
    }
  } catch (...) {
    error = std::current_exception();  // no co_await in a catch block: note it, close below
  }
  // The co_await of unwind() is itself checked against a recorded cancellation, before
  // unwind() starts: turn the check off around it, then restore it.
  const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  error = co_await stack.unwind(error);
  co_await asio::this_coro::throw_if_cancelled(was_checking);
  if (error) std::rethrow_exception(error);  // unless an exit suppressed it
  if constexpr (!std::is_void_v<R>) {
    if (result) co_return std::move(*result);
    co_return R{};  // the body failed and an exit suppressed the error: no value
  }
}

/// `async with open_x() as x: return await body(x)`: enters `opener`, calls body(value) and
/// awaits its exit on every path. If the opener throws, body never runs.
template <typename T, typename Body, typename Result = std::invoke_result_t<Body&, T&>>
Result async_with(asio::awaitable<Entered<T>> opener, Body body) {
  // The lambda is kept alive in with_exit_stack's frame while its coroutine runs.
  return with_exit_stack(
      [opener = std::move(opener), body = std::move(body)](AsyncExitStack& stack) mutable
      -> Result {
        T value = co_await stack.enter_async_context(std::move(opener));
        Result pending = body(value);
        co_return co_await std::move(pending);
      });
}

}  // namespace lesson021
