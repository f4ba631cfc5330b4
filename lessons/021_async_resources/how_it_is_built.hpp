// How it is built (lesson 021, optional): the exit stack's templates, and Stream, the async
// iterator behind take_from_stream(). A learner can skip this file at this lesson:
// exit_stack.hpp says what the exit stack promises, resources.cpp shows both in use. Here is
// how with_exit_stack keeps its promise when the body throws or is cancelled (lesson 005's
// throw_if_cancelled); how_it_is_built.cpp has the rest (the Stream's producer runs as lesson
// 005's Task). A Stream destroyed without aclose() cancels its producer and does not wait for
// it (asyncio finalises a forgotten generator later too, through the loop's asyncgen hooks).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/this_coro.hpp>

#include "cancel.hpp"  // lesson 005: Task
#include "exit_stack.hpp"

namespace lesson021 {

template <typename T>
asio::awaitable<T> AsyncExitStack::enter_async_context(asio::awaitable<Entered<T>> opener) {
  Entered<T> entered = co_await std::move(opener);
  push_async_exit(std::move(entered.exit));  // only once it has opened
  co_return std::move(entered.value);
}

// The pattern of this lesson: C++ cannot co_await in a catch block (nor in a destructor), so
// the body's exception is caught into a std::exception_ptr, the exits are awaited, and then it
// is rethrown.
template <typename Body, typename Result>
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
  // After a terminal cancellation every co_await throws before it starts (lesson 005), which
  // would skip the cleanup. Turn that check off while the exits run: their awaits complete,
  // the request stays recorded (and is reported), and the check is put back after.
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

template <typename T, typename Body, typename Result>
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

/// An async iterator fed by a producer task (lesson 005's Task) through a bounded channel.
/// Use from one executor.
class Stream {
 public:
  using Channel = asio::experimental::channel<void(asio::error_code, int)>;
  /// The producer: sends values into the channel, returns at the end, throws on failure.
  using Producer = std::function<asio::awaitable<void>(std::shared_ptr<Channel>)>;

  /// Starts `producer` as a task; it waits (back-pressure) while `capacity` values are unread.
  Stream(asio::any_io_executor executor, std::size_t capacity, Producer producer);
  ~Stream();  // not closed: cancels the producer (its cleanup runs later) and does not wait
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  /// __anext__: the next value; std::nullopt at the end (StopAsyncIteration) or once closed.
  /// The producer's exception is rethrown here after the values it sent before it.
  asio::awaitable<std::optional<int>> next();
  /// aclose(): cancels the producer and waits until it has finished, cleanup included. Call
  /// it once; harmless once the producer has finished.
  asio::awaitable<void> aclose();
  /// For a producer: sends `value`, waiting while the channel is full. A cancelled send
  /// throws operation_aborted, as every cancelled operation (not channel_cancelled).
  static asio::awaitable<void> send(std::shared_ptr<Channel> channel, int value);

  struct State;

 private:
  std::shared_ptr<State> state_;
  lesson005::Task task_;  // runs the producer; its result() says when it has finished
};

}  // namespace lesson021
