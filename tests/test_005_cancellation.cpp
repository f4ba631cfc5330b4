#include "cancel.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson005::Check;
using lesson005::Journal;
using lesson005::Task;
using tut::test::run_within;
using Events = std::vector<std::string>;

namespace {

asio::awaitable<void> pause(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// Awaits the task and returns its value, or "cancelled" / "error: ..." for an exception.
asio::awaitable<std::string> outcome_of(Task task) {
  try {
    co_return co_await task.result();
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) co_return "cancelled";
    co_return std::string("error: ") + error.what();
  }
}

// Starts `work` as a Task, cancels it with `type` after `delay`, and returns its outcome.
std::string cancel_after(std::chrono::milliseconds delay, asio::awaitable<std::string> work,
                         asio::cancellation_type_t type = asio::cancellation_type::terminal) {
  return run_within([](std::chrono::milliseconds wait, asio::awaitable<std::string> coroutine,
                       asio::cancellation_type_t kind) -> asio::awaitable<std::string> {
    Task task(co_await asio::this_coro::executor, std::move(coroutine));
    co_await pause(wait);
    CHECK(task.cancel(kind));  // still running: the request is made
    co_return co_await outcome_of(task);
  }(delay, std::move(work), type));
}

}  // namespace

// ----------------------------------------------------------------------------- Task.cancel

TEST_CASE("a cancelled timer wait throws operation_aborted and the task ends early") {
  auto journal = std::make_shared<Journal>();
  auto start = tut::clock::now();
  CHECK(cancel_after(20ms, lesson005::sleeper("s", 5s, journal)) == "cancelled");
  CHECK(tut::clock::now() - start < 4s);  // far from the 5 s it would have slept
  // The catch block saw the error, then the RAII guard's destructor ran, last.
  CHECK(journal->events() == Events{"s: started", "s: saw operation_aborted", "s: released"});
}

TEST_CASE("an uncancelled task returns its value and its RAII cleanup runs too") {
  auto journal = std::make_shared<Journal>();
  auto value = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    Task task(co_await asio::this_coro::executor, lesson005::sleeper("s", 10ms, shared));
    CHECK_FALSE(task.done());
    auto result = co_await task.result();
    CHECK(task.done());
    co_return result;
  }(journal));
  CHECK(value == "slept");
  CHECK(journal->events() == Events{"s: started", "s: done", "s: released"});
}

TEST_CASE("cancelling an already-finished task is harmless") {
  auto journal = std::make_shared<Journal>();
  auto value = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    Task task(co_await asio::this_coro::executor, lesson005::sleeper("s", 5ms, shared));
    co_await pause(30ms);
    CHECK(task.done());
    CHECK_FALSE(task.cancel());  // asyncio: Task.cancel() returns False on a done task
    CHECK_FALSE(task.cancel(asio::cancellation_type::partial));
    co_return co_await task.result();  // the value is untouched
  }(journal));
  CHECK(value == "slept");
  CHECK_FALSE(journal->saw("s", "saw operation_aborted"));
}

TEST_CASE("a task cancelled before it ever suspends is cancelled at its first co_await") {
  auto journal = std::make_shared<Journal>();
  auto outcome = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    Task task(co_await asio::this_coro::executor, lesson005::sleeper("s", 5s, shared));
    CHECK(task.cancel());  // at once, in the same turn of the event loop
    co_return co_await outcome_of(task);
  }(journal));
  // With Asio 1.22, co_spawn from a coroutine on the same io_context runs the new coroutine at
  // once up to its first suspension (asyncio's create_task only schedules it), so the cancel
  // aborts its first timer wait. Either way it must end cancelled, never done.
  CHECK(outcome == "cancelled");
  CHECK_FALSE(journal->saw("s", "done"));
}

TEST_CASE("result() is for one awaiter at a time") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Task task(executor, lesson005::sleeper("s", 5s, std::make_shared<Journal>()));
    Task first_waiter(executor, outcome_of(task));
    co_await pause(5ms);  // first_waiter is now inside result()
    CHECK_THROWS_AS(task.result(), std::logic_error);
    task.cancel();
    CHECK(co_await first_waiter.result() == "cancelled");
    CHECK(co_await outcome_of(task) ==
          "cancelled");  // once done, result() works any number of times
  }());
}

// ----------------------------------------------------------------------------- cleanup

TEST_CASE("a cleanup that co_awaits runs after the cancellation, then the task reports it") {
  auto journal = std::make_shared<Journal>();
  auto start = tut::clock::now();
  CHECK(cancel_after(10ms, lesson005::closer("c", 5s, 30ms, journal)) == "cancelled");
  CHECK(tut::clock::now() - start >= 40ms);  // the awaiter waited for the 30 ms cleanup
  CHECK(journal->events() == Events{"c: cancelled", "c: cleanup started", "c: cleanup done"});
}

TEST_CASE("closer without cancellation just finishes") {
  auto journal = std::make_shared<Journal>();
  CHECK(run_within(lesson005::closer("c", 10ms, 10ms, journal)) == "finished");
  CHECK(journal->events() == Events{"c: finished"});
}

TEST_CASE("a second cancel() interrupts the awaiting cleanup, as in asyncio") {
  auto journal = std::make_shared<Journal>();
  auto outcome = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    Task task(co_await asio::this_coro::executor, lesson005::closer("c", 5s, 5s, shared));
    co_await pause(10ms);
    task.cancel();
    co_await pause(20ms);  // now in its 5 s cleanup, on a fresh cancellation state
    CHECK(shared->saw("c", "cleanup started"));
    CHECK(task.cancel());
    co_return co_await outcome_of(task);
  }(journal));
  CHECK(outcome == "cancelled");
  CHECK_FALSE(journal->saw("c", "cleanup done"));
}

TEST_CASE("after a cancellation, a plain co_await throws at once unless the state is reset") {
  auto journal = std::make_shared<Journal>();
  auto naive = [](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    bool cancelled = false;
    try {
      co_await pause(5s);
    } catch (const std::system_error&) {
      cancelled = true;
    }
    REQUIRE(cancelled);
    auto start = tut::clock::now();
    try {
      co_await pause(5s);  // the state still says "cancelled": this throws before starting
      shared->record("naive", "cleanup slept");
    } catch (const std::system_error& error) {
      CHECK(error.code() == asio::error::operation_aborted);
      CHECK(tut::clock::now() - start < 4s);
      shared->record("naive", "cleanup co_await threw at once");
    }
    co_return "returned";
  };
  CHECK(cancel_after(10ms, naive(journal)) == "returned");
  CHECK(journal->events() == Events{"naive: cleanup co_await threw at once"});
}

// ----------------------------------------------------------------------------- between two ops

TEST_CASE("a cancel between two operations stops the task before the second starts") {
  auto journal = std::make_shared<Journal>();
  auto start = tut::clock::now();
  // Step 1 lasts 200 ms so that the cancel at 10 ms lands inside it even on a loaded machine.
  CHECK(cancel_after(10ms, lesson005::two_steps("t", 200ms, 5s, Check::automatic, journal)) ==
        "cancelled");
  auto took = tut::clock::now() - start;
  CHECK(took >= 200ms);  // step 1 could not be interrupted: it ran to its end
  CHECK(took < 4s);      // step 2 (5 s) never ran
  CHECK(journal->events() == Events{"t: step 1 done"});
}

TEST_CASE("with throw_if_cancelled(false) the task checks cancellation_state and stops cleanly") {
  auto journal = std::make_shared<Journal>();
  CHECK(cancel_after(10ms, lesson005::two_steps("t", 200ms, 5s, Check::explicit_, journal)) ==
        "stopped after step 1");
  CHECK(journal->events() == Events{"t: step 1 done", "t: stopped after step 1"});
}

TEST_CASE("two_steps without a cancel runs both steps, whichever check it uses") {
  for (auto check : {Check::automatic, Check::explicit_}) {
    auto journal = std::make_shared<Journal>();
    CHECK(run_within(lesson005::two_steps("t", 5ms, 5ms, check, journal)) == "both steps");
    CHECK(journal->events() == Events{"t: step 1 done", "t: step 2 done"});
  }
}

// ----------------------------------------------------------------------------- types, filters

TEST_CASE("a coroutine's default filter accepts terminal requests only") {
  auto journal = std::make_shared<Journal>();
  CHECK(cancel_after(10ms, lesson005::sleeper("p", 150ms, journal),
                     asio::cancellation_type::partial) == "slept");
  CHECK(cancel_after(10ms, lesson005::sleeper("t", 150ms, journal),
                     asio::cancellation_type::total) == "slept");
  CHECK(cancel_after(10ms, lesson005::sleeper("x", 5s, journal),
                     asio::cancellation_type::terminal) == "cancelled");
}

TEST_CASE("reset_cancellation_state filters decide which request types get through") {
  using asio::cancellation_type;
  const auto terminal_only = cancellation_type::terminal;
  const auto up_to_partial = cancellation_type::terminal | cancellation_type::partial;
  const auto everything = up_to_partial | cancellation_type::total;
  auto journal = std::make_shared<Journal>();
  auto run = [&](const char* name, cancellation_type accepted, cancellation_type sent) {
    // A task that is not cancelled sleeps 150 ms (still running when the cancel comes at 10 ms);
    // one that is cancelled would otherwise sleep 5 s.
    auto delay = (accepted & sent) != cancellation_type::none ? 5000ms : 150ms;
    return cancel_after(10ms, lesson005::filtered_sleeper(name, delay, accepted, journal), sent);
  };
  CHECK(run("a", terminal_only, cancellation_type::partial) == "slept");
  CHECK(run("b", up_to_partial, cancellation_type::partial) == "cancelled");
  CHECK(journal->saw("b", "cancelled (partial)"));
  CHECK(run("c", up_to_partial, cancellation_type::total) == "slept");
  CHECK(run("d", everything, cancellation_type::total) == "cancelled");
  CHECK(journal->saw("d", "cancelled (total)"));
  CHECK(run("e", up_to_partial, cancellation_type::terminal) == "cancelled");
  CHECK(run("f", cancellation_type::none, cancellation_type::terminal) ==
        "slept");  // uncancellable
}

TEST_CASE("filtered_sleeper rejects a filter it does not know") {
  auto journal = std::make_shared<Journal>();
  CHECK_THROWS_AS(
      tut::run(lesson005::filtered_sleeper("z", 1ms, asio::cancellation_type::partial, journal)),
      std::invalid_argument);
}

TEST_CASE("to_string names cancellation types") {
  using asio::cancellation_type;
  CHECK(lesson005::to_string(cancellation_type::none) == "none");
  CHECK(lesson005::to_string(cancellation_type::partial) == "partial");
  CHECK(lesson005::to_string(cancellation_type::terminal | cancellation_type::total) ==
        "terminal|total");
}

// ----------------------------------------------------------------------------- shield

TEST_CASE("shield: the awaiter is cancelled, the shielded work completes and keeps its result") {
  auto journal = std::make_shared<Journal>();
  auto value = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    Task inner(executor, lesson005::sleeper("inner", 200ms, shared));
    Task outer(executor, lesson005::await_shielded("outer", inner, shared));
    co_await pause(10ms);
    outer.cancel();
    CHECK(co_await outcome_of(outer) == "cancelled");
    CHECK_FALSE(inner.done());  // the outer await is over, the work is not
    co_return co_await inner.result();
  }(journal));
  CHECK(value == "slept");
  CHECK(journal->saw("outer", "cancelled"));
  CHECK(journal->saw("inner", "done"));
  CHECK_FALSE(journal->saw("inner", "saw operation_aborted"));
}

TEST_CASE("without a shield, cancelling the awaiter cancels the work it awaits directly") {
  auto journal = std::make_shared<Journal>();
  CHECK(cancel_after(10ms, lesson005::await_directly("outer", "inner", 5s, journal)) ==
        "cancelled");
  CHECK(journal->events() == Events{"inner: started", "inner: saw operation_aborted",
                                    "inner: released", "outer: cancelled"});
}

TEST_CASE("an awaiter cancelled in result() can await the result again once reset") {
  auto value = run_within([]() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    Task inner(executor, lesson005::sleeper("inner", 200ms, std::make_shared<Journal>()));
    // A coroutine cancelled inside result(), which then resets its state and awaits again.
    auto patient = [](Task work) -> asio::awaitable<std::string> {
      bool cancelled = false;
      try {
        co_await work.result();
      } catch (const std::system_error& error) {
        cancelled = error.code() == asio::error::operation_aborted;
      }
      REQUIRE(cancelled);
      co_await asio::this_coro::reset_cancellation_state();
      co_return "second try: " + co_await work.result();
    };
    Task waiter(executor, patient(inner));
    co_await pause(10ms);
    waiter.cancel();
    co_return co_await waiter.result();
  }());
  CHECK(value == "second try: slept");
}

TEST_CASE("co_await co_spawn(..., use_awaitable) forwards the awaiter's cancellation (await task)") {
  auto journal = std::make_shared<Journal>();
  CHECK(cancel_after(10ms, lesson005::await_spawned("outer", "inner", 5s, journal)) ==
        "cancelled");
  // The spawned child saw the cancellation first: it is not shielded like a Task.
  CHECK(journal->events() == Events{"inner: started", "inner: saw operation_aborted",
                                    "inner: released", "outer: cancelled"});
}

TEST_CASE("result() claims the one awaiter at the call: result() && result() fails, not hangs") {
  auto value = run_within(
      []() -> asio::awaitable<std::string> {
        using namespace asio::experimental::awaitable_operators;
        auto executor = co_await asio::this_coro::executor;
        Task task(executor, lesson005::sleeper("s", 20ms, std::make_shared<Journal>()));
        bool refused = false;
        try {
          auto first = task.result();
          auto second = task.result();  // neither has started: the first has claimed it
          // One "finished" message for two receives: with a lazy claim one side never ends.
          co_await (std::move(first) && std::move(second));
        } catch (const std::logic_error&) {
          refused = true;
        }
        CHECK(refused);
        // `first` was dropped unawaited: its claim went with it.
        auto result = co_await task.result();
        co_return result;
      }(),
      3s);
  CHECK(value == "slept");
}

TEST_CASE("cancelled() is true once the task has ended cancelled (asyncio Task.cancelled)") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto journal = std::make_shared<Journal>();
    Task finished(executor, lesson005::sleeper("f", 5ms, journal));
    Task stopped(executor, lesson005::sleeper("s", 5s, journal));
    auto fails = []() -> asio::awaitable<std::string> {
      co_await pause(5ms);
      throw std::system_error(std::make_error_code(std::errc::io_error), "broken");
    };
    Task failed(executor, fails());
    CHECK(stopped.cancel());
    CHECK_FALSE(stopped.cancelled());  // requested, not yet ended: asyncio says False too
    auto a = co_await outcome_of(finished);
    auto b = co_await outcome_of(stopped);
    auto c = co_await outcome_of(failed);
    CHECK(a == "slept");
    CHECK(b == "cancelled");
    CHECK(c.rfind("error: broken", 0) == 0);
    CHECK_FALSE(finished.cancelled());
    CHECK(stopped.cancelled());
    CHECK_FALSE(failed.cancelled());  // ended with its own error, not cancelled
  }());
}
