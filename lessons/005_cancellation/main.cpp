// Lesson 005 demo: cancel a task, watch what it sees and what cleanup still runs, cancel it
// between two operations, filter request types, and shield work from a cancelled awaiter.
#include <fmt/core.h>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "cancel.hpp"
#include "demo.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using lesson005::Journal;
using lesson005::Task;

namespace {

asio::awaitable<void> pause(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// `await task` with the outcome printed: its value, or how it failed.
asio::awaitable<void> report(const char* who, Task task) {
  try {
    auto value = co_await task.result();
    tut::log("main", "{} returned \"{}\"", who, value);
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted)
      tut::log("main", "awaiting {} threw system_error(operation_aborted): it was cancelled", who);
    else
      tut::log("main", "awaiting {} threw system_error: {}", who, error.what());
  }
}

asio::awaitable<void> demo() {
  auto executor = co_await asio::this_coro::executor;
  auto journal = std::make_shared<Journal>();

  tut::part("1. Task.cancel(): the pending operation throws operation_aborted");
  {
    Task worker(executor, lesson005::sleeper("worker", 1s, journal));
    co_await pause(200ms);
    tut::log("main", "worker.cancel() -> {}", worker.cancel());
    co_await report("worker", worker);
    tut::log("main", "worker.cancelled() -> {}", worker.cancelled());
    tut::log("main", "worker.cancel() again -> {}: it is done, nothing happens", worker.cancel());
  }

  tut::part("2. cleanup that itself needs to co_await");
  {
    Task closer(executor, lesson005::closer("closer", 1s, 100ms, journal));
    co_await pause(100ms);
    tut::log("main", "closer.cancel()");
    closer.cancel();
    co_await report("closer", closer);
  }

  tut::part("3. cancelled between two operations: nothing to abort, the request is recorded");
  {
    Task stepper(executor, lesson005::two_steps("stepper", 200ms, 500ms,
                                                lesson005::Check::automatic, journal));
    co_await pause(100ms);
    tut::log("main", "stepper.cancel() while step 1 runs");
    stepper.cancel();
    co_await report("stepper", stepper);
    tut::log("main", "step 2 never started: its co_await threw before starting the timer");
  }

  tut::part("3b. the same, but the task checks cancellation_state itself (throw_if_cancelled(false))");
  {
    Task checker(executor, lesson005::two_steps("checker", 200ms, 500ms,
                                                lesson005::Check::explicit_, journal));
    co_await pause(100ms);
    tut::log("main", "checker.cancel() while step 1 runs");
    checker.cancel();
    co_await report("checker", checker);
  }

  tut::part("4. cancellation types: a coroutine ignores what its filter does not accept");
  {
    Task strict(executor, lesson005::filtered_sleeper("strict", 300ms,
                                                      asio::cancellation_type::terminal, journal));
    auto partial_ok = asio::cancellation_type::terminal | asio::cancellation_type::partial;
    Task lenient(executor, lesson005::filtered_sleeper("lenient", 300ms, partial_ok, journal));
    co_await pause(100ms);
    tut::log("main", "cancel(partial) sent to both");
    strict.cancel(asio::cancellation_type::partial);
    lenient.cancel(asio::cancellation_type::partial);
    co_await report("lenient", lenient);
    co_await report("strict", strict);
  }

  tut::part("5. shield: the awaiter is cancelled, the work goes on");
  {
    // outer-a awaits its work directly: one coroutine, one cancellation state.
    Task outer_a(executor, lesson005::await_directly("outer-a", "inner-a", 300ms, journal));
    // outer-b awaits a Task, whose result comes through a channel: nothing forwards the
    // cancellation to the work. asyncio.shield(task).
    Task inner_b(executor, lesson005::sleeper("inner-b", 300ms, journal));
    Task outer_b(executor, lesson005::await_shielded("outer-b", inner_b, journal));
    // outer-c awaits co_spawn(..., use_awaitable): a coroutine of its own, yet not shielded.
    Task outer_c(executor, lesson005::await_spawned("outer-c", "inner-c", 300ms, journal));
    co_await pause(100ms);
    tut::log("main", "cancel outer-a, outer-b and outer-c");
    outer_a.cancel();
    outer_b.cancel();
    outer_c.cancel();
    co_await report("outer-a", outer_a);
    co_await report("outer-b", outer_b);
    co_await report("outer-c", outer_c);
    co_await report("inner-b", inner_b);  // the shielded work's result is still there
  }
}

}  // namespace

int main() {
  tut::run(demo());
  return 0;
}
