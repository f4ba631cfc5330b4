// run(): the asyncio.run() of this tutorial, and rethrow: the completion handler to use
// instead of asio::detached.
#pragma once

#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>

namespace tut {

/// Where a spawned coroutine's completion lands: whether it has completed, and its result or
/// exception. spawn_into() fills it from a plain completion handler, which runs inside
/// io_context::run() on the caller's own thread. (Lesson 003's Outcome is another idea: what
/// one child ended with, its value or its exception.)
/// Why not asio::use_future: in Asio 1.22 co_spawn hands its result to use_future's handler
/// through that handler's executor, the system executor. If the coroutine suspended at least
/// once, that is a dispatch and runs inline on the run() thread; if it never suspended, it is a
/// post, and the promise is completed later on a thread of Asio's own. The exception then
/// crosses threads, which ThreadSanitizer cannot follow through libstdc++'s uninstrumented
/// reference counts (it reports a data race), and run() may return before the future is ready.
template <typename T>
struct Completion {
  bool done = false;
  std::exception_ptr error;
  std::optional<T> value;

  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct Completion<void> {
  bool done = false;
  std::exception_ptr error;

  void take() {
    if (error) std::rethrow_exception(error);
  }
};

/// Spawns `coroutine` on `context`; `completion` must outlive the context's run.
template <typename T>
void spawn_into(asio::io_context& context, asio::awaitable<T> coroutine,
                Completion<T>& completion) {
  if constexpr (std::is_void_v<T>) {
    asio::co_spawn(context, std::move(coroutine), [&completion](std::exception_ptr error) {
      completion.done = true;
      completion.error = error;
    });
  } else {
    asio::co_spawn(context, std::move(coroutine),
                   [&completion](std::exception_ptr error, T value) {
                     completion.done = true;
                     completion.error = error;
                     if (!error) completion.value.emplace(std::move(value));
                   });
  }
}

/// Runs `main_coroutine` on a fresh io_context until all work is done, then returns the
/// coroutine's value or rethrows its exception, like asyncio.run(main()).
/// One difference from asyncio.run: tasks the coroutine spawned and left running are not
/// cancelled when it returns; run() waits for them, because io_context::run() returns only
/// when no work is left.
template <typename T>
T run(asio::awaitable<T> main_coroutine) {
  Completion<T> completion;
  asio::io_context context;
  spawn_into(context, std::move(main_coroutine), completion);
  context.run();
  return completion.take();
}

/// Completion handler for co_spawn that lets no exception disappear: it rethrows it out of
/// io_context::run(), where the program (or a test) sees it. asio::detached would swallow it
/// silently (lesson 002 shows both). Use it for tasks whose result nobody awaits:
///   asio::co_spawn(executor, background_task(), tut::rethrow);
inline constexpr auto rethrow = [](std::exception_ptr error, auto&&...) {
  if (error) std::rethrow_exception(error);
};

/// True if `error` holds a std::system_error with asio::error::operation_aborted: what a
/// cancelled Asio operation throws, the counterpart of asyncio's CancelledError.
inline bool is_cancellation(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    return e.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

}  // namespace tut
