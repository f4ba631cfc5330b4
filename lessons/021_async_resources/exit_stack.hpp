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
// CPython's semantics: the exits run in reverse order, once, however the body ends (returns,
// throws, is cancelled); each sees the error propagating then and may suppress it (returns
// true); an exit that throws replaces the error and the others still run; an opener that
// throws pushes nothing. Where C++ differs: no co_await in a destructor or a catch block, so
// `async with` is a function: with_exit_stack catches the body's exception into a
// std::exception_ptr, awaits the exits with this_coro::throw_if_cancelled(false) (a cancelled
// coroutine's next co_await would throw before it starts), then rethrows; its code is in
// how_it_is_built.hpp. A stack destroyed without aclose() runs nothing; a replaced error is
// lost (Python keeps it as __context__); a suppressed error leaves a non-void body no value
// (R{} is returned). Give exits as plain lambdas that call a coroutine with their captures as
// parameters (a coroutine lambda's captures die with it); with g++ 12 build a body lambda in a
// variable before `co_await with_exit_stack(std::move(body))`.
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson021 {

/// An __aexit__: awaits the cleanup. Receives the propagating error (null if none); returns
/// true to suppress it.
using Exit = std::function<asio::awaitable<bool>(std::exception_ptr)>;
/// A cleanup that does not care how the body ended (push_async_callback).
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
  /// Adds an exit; the last one added runs first.
  void push_async_exit(Exit exit) { exits_.push_back(std::move(exit)); }
  /// Adds a cleanup that runs whatever the error (it never suppresses one).
  void push_async_callback(Callback callback);

  /// Awaits `opener`; if it succeeds, pushes its exit and returns its value. If it throws,
  /// nothing is pushed and the exception propagates.
  template <typename T>
  asio::awaitable<T> enter_async_context(asio::awaitable<Entered<T>> opener);

  /// Moves every exit to a new stack and leaves this one empty: the resources now belong to
  /// whoever holds the returned stack (open several, hand them all over only if all opened).
  AsyncExitStack pop_all() { return std::exchange(*this, AsyncExitStack()); }
  std::size_t size() const { return exits_.size(); }  // exits not run yet

  /// Runs every exit in reverse order with `error` propagating, and returns what is left:
  /// `error`, the last exception an exit threw, or null. Never throws. In a coroutine that may
  /// have been cancelled, turn throw_if_cancelled off before awaiting it (with_exit_stack does).
  asio::awaitable<std::exception_ptr> unwind(std::exception_ptr error);
  /// unwind(nullptr), then rethrows the last exception an exit threw.
  asio::awaitable<void> aclose();

 private:
  std::vector<Exit> exits_;
};

/// `async with AsyncExitStack() as stack: return await body(stack)`. `body` is called with
/// the stack and returns an asio::awaitable<R>; every exit it pushed runs when it ends, on
/// every path (also after a cancellation: the exits' awaits complete); then its value is
/// returned or its (remaining) error rethrown.
template <typename Body, typename Result = std::invoke_result_t<Body&, AsyncExitStack&>>
Result with_exit_stack(Body body);

/// `async with open_x() as x: return await body(x)`: enters `opener`, calls body(value) and
/// awaits its exit on every path. If the opener throws, body never runs.
template <typename T, typename Body, typename Result = std::invoke_result_t<Body&, T&>>
Result async_with(asio::awaitable<Entered<T>> opener, Body body);

}  // namespace lesson021

#include "how_it_is_built.hpp"  // the templates' code
