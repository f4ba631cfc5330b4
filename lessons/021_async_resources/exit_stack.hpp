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
// CPython's rules: the exits run once, in reverse, however the body ends (returns, throws, is
// cancelled); each sees the propagating error and may suppress it (returns true); one that
// throws replaces the error and the others still run; an opener that throws pushes nothing.
// C++ has no co_await in a destructor or a catch block, so `async with` is a function: it
// catches the body's exception into an exception_ptr, awaits the exits with
// throw_if_cancelled(false) (after a cancel, the next co_await throws before it starts), then
// rethrows. A stack destroyed without aclose() runs nothing; a replaced error is lost (no
// __context__); a suppressed error leaves a non-void body R{}. An exit is a plain lambda that
// calls a coroutine with its captures as parameters (a coroutine lambda's captures die with
// it); with g++ 12, build a body lambda in a variable before co_awaiting with_exit_stack(body).
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson021 {

/// An __aexit__: awaits the cleanup, sees the propagating error (null if none), returns true
/// to suppress it. A Callback (push_async_callback) ignores the error, suppresses nothing.
using Exit = std::function<asio::awaitable<bool>(std::exception_ptr)>;
using Callback = std::function<asio::awaitable<void>()>;

/// What an @asynccontextmanager gives back: the value `as` binds, and the exit that closes it.
template <typename T>
struct Entered {
  T value;
  Exit exit;
};

/// contextlib.AsyncExitStack. Use from one executor (like everything in asyncio).
class AsyncExitStack {
 public:
  void push_async_exit(Exit exit) { exits_.push_back(std::move(exit)); }  // runs first
  void push_async_callback(Callback callback);
  /// Awaits `opener`, pushes its exit only if it opened, returns its value.
  template <typename T>
  asio::awaitable<T> enter_async_context(asio::awaitable<Entered<T>> opener);
  /// Hands every exit to a new stack (open several, keep them only if all opened).
  AsyncExitStack pop_all() { return std::exchange(*this, {}); }
  std::size_t size() const { return exits_.size(); }  // exits not run yet

  /// Runs the exits in reverse with `error` propagating; returns what is left (`error`, the
  /// last exception an exit threw, or null), never throws. After a cancellation, turn
  /// throw_if_cancelled off before awaiting it (with_exit_stack does).
  asio::awaitable<std::exception_ptr> unwind(std::exception_ptr error);
  asio::awaitable<void> aclose();  // unwind(nullptr), then rethrows what is left

 private:
  std::vector<Exit> exits_;
};

/// `async with AsyncExitStack() as stack: return await body(stack)`: body(stack) returns an
/// asio::awaitable<R>; the exits it pushed run on every path, then its value is returned or
/// the error left is rethrown.
template <typename Body, typename Result = std::invoke_result_t<Body&, AsyncExitStack&>>
Result with_exit_stack(Body body);

/// `async with open_x() as x: return await body(x)`. If the opener throws, body never runs.
template <typename T, typename Body, typename Result = std::invoke_result_t<Body&, T&>>
Result async_with(asio::awaitable<Entered<T>> opener, Body body);

}  // namespace lesson021

#include "how_it_is_built.hpp"  // the templates' code
