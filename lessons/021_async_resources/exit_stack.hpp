// Lesson 021: an async exit stack, the tool every later lesson closes its resources with.
//
//   Python (contextlib)                          C++ (this header)
//   @asynccontextmanager                         a coroutine returning Entered<T>: the value
//   async def open_x(): setup; yield x; cleanup  and its exit, a function that awaits the cleanup
//   async with open_x() as x: body               co_await async_with(open_x(), body)
//   async with AsyncExitStack() as stack: body   co_await with_exit_stack(body)
//   await stack.enter_async_context(open_x())    co_await stack.enter_async_context(open_x())
//   stack.push_async_callback(cb)                stack.push_async_callback(cb)
//   stack.push_async_exit(exit)                  stack.push_async_exit(exit)
//   stack.pop_all() / await stack.aclose()       stack.pop_all() / co_await stack.aclose()
//
// The semantics are CPython's AsyncExitStack.__aexit__, point by point:
// - The exits run in reverse order of entry, each once, however the body ends: it returns, it
//   throws, or it is cancelled (operation_aborted, Asio's CancelledError).
// - Each exit receives the error propagating at that moment (the body's, or the one a later
//   exit raised) and may suppress it by returning true; the next exits then see no error.
// - An exit that throws replaces the propagating error, and the remaining exits still run.
//   Python keeps the replaced error as __context__; a C++ exception has no such slot, so it
//   is lost (the exit that threw received it as its argument).
// - A resource whose opener throws was never entered: nothing of it is closed, the resources
//   entered before it are (a failure opening the third closes the first two).
// Where C++ differs, and why:
// - C++ cannot co_await in a destructor or in a catch block, so `async with` is a function:
//   with_exit_stack() catches the body's exception into a std::exception_ptr, awaits the
//   exits, then rethrows. A stack destroyed without aclose() runs nothing: always close it
//   (with_exit_stack and async_with do).
// - Cancellation: once a terminal cancellation has reached a coroutine, every later co_await
//   in it throws operation_aborted before it starts (lesson 005), which would skip the
//   cleanup. with_exit_stack() turns this_coro::throw_if_cancelled off while the exits run
//   and restores it after, so the cleanup's awaits complete, the cancellation is still recorded and
//   reported, and the filter the coroutine chose is kept. As in asyncio, a second cancel()
//   interrupts the await it hits (that exit fails with operation_aborted), and the other
//   exits still run.
// - Python's exits can be plain or async; here every exit is async (a plain one just
//   co_returns). With a suppressed error and no value, a non-void body's result is R{}.
// - An exit or callback given as a lambda should not itself be a coroutine that uses its
//   captures: write a plain lambda that calls a coroutine with its values as parameters.
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

  /// Runs every exit in reverse order with `error` propagating (see the top of this file)
  /// and returns what is left: `error`, the last exception an exit threw, or null if there
  /// was none or an exit suppressed it. Never throws. The exits' awaits complete even after
  /// a cancellation. But awaiting unwind() itself is an await that Asio checks first: in a
  /// coroutine that may have been cancelled, turn throw_if_cancelled off before it (as
  /// with_exit_stack does), or the co_await throws operation_aborted and no exit runs.
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
