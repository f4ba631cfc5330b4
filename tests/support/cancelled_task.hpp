// Test support: a coroutine run as a task that the test can cancel, lesson 005's way (a
// cancellation_signal whose slot is bound to co_spawn's completion handler, emit()), and how
// it ended. The one harness of the exercises whose tests cancel a task (005.1, 021.1).
// Not teaching code.
//
//     auto pool = std::make_shared<Pool>();
//     int in_use = -1;
//     tut::test::TaskEnding ending = tut::test::run_cancelled(
//         use_connection(pool, 1s), true, [&] { in_use = pool->in_use; });
//     CHECK(tut::test::describe(ending.error) == "operation_aborted");
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "run.hpp"

namespace tut::test {

/// How a task ended: its exception (none if it returned) or its value.
struct TaskEnding {
  bool finished = false;  // false: still running after 5 s
  std::exception_ptr error;
  std::string value;
};

/// Runs `task` on an io_context of its own for at most 5 s; at 50 ms calls `at_50ms` (if
/// given) and then, if `cancel`, emits a terminal cancellation into the task's slot.
inline TaskEnding run_cancelled(asio::awaitable<std::string> task, bool cancel,
                                const std::function<void()>& at_50ms = {}) {
  using namespace std::chrono_literals;
  TaskEnding ending;
  asio::io_context context;
  asio::cancellation_signal signal;
  asio::co_spawn(context, std::move(task),
                 asio::bind_cancellation_slot(signal.slot(),
                                              [&](std::exception_ptr error, std::string value) {
                                                ending.finished = true;
                                                ending.error = error;
                                                ending.value = std::move(value);
                                              }));
  asio::steady_timer timer(context, 50ms);
  timer.async_wait([&](std::error_code) {
    if (at_50ms) at_50ms();
    if (cancel) signal.emit(asio::cancellation_type::terminal);
  });
  context.run_for(5s);
  return ending;
}

/// "no exception", "operation_aborted" (a cancellation), or `the exception "what()"`.
inline std::string describe(const std::exception_ptr& error) {
  if (!error) return "no exception";
  if (tut::is_cancellation(error)) return "operation_aborted";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string("the exception \"") + e.what() + "\"";
  } catch (...) {
  }
  return "an exception";
}

}  // namespace tut::test
