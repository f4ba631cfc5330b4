#include "wait.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/multiple_exceptions.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "errors.hpp"
#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson004::AsCompleted;
using lesson004::Completed;
using lesson004::Job;
using lesson004::Journal;
using lesson004::ReturnWhen;
using lesson004::WaitResult;
using tut::test::run_within;
using Names = std::vector<std::string>;
using Order = std::array<std::size_t, 3>;

namespace {

using tut::test::message_of;

// Runs wait_jobs and returns its result together with a snapshot of the journal taken the
// moment the wait returned: what the tests check about the losers must already be true then.
struct Snapshot {
  WaitResult result;
  Journal journal_at_return;
  tut::clock::duration took;
};

Snapshot wait_and_snapshot(std::array<Job, 3> jobs, ReturnWhen when) {
  return run_within([](std::array<Job, 3> specs, ReturnWhen policy) -> asio::awaitable<Snapshot> {
    auto journal = std::make_shared<Journal>();
    auto start = tut::clock::now();
    auto result = co_await lesson004::wait_jobs(std::move(specs), policy, journal);
    co_return Snapshot{result, *journal, tut::clock::now() - start};
  }(std::move(jobs), when));
}

}  // namespace

// ----------------------------------------------------------------------------- a || b

TEST_CASE("|| returns the first success and cancels the loser before returning") {
  auto [winner, cancelled_at_return] =
      run_within([]() -> asio::awaitable<std::pair<std::variant<std::string, std::string>, Names>> {
        auto journal = std::make_shared<Journal>();
        Job fast{"fast", 10ms}, slow{"slow", 5s};
        auto result = co_await lesson004::race(fast, slow, journal);
        co_return std::make_pair(result, journal->names_that("cancelled"));
      }());
  REQUIRE(winner.index() == 0);
  CHECK(std::get<0>(winner) == "fast");
  CHECK(cancelled_at_return == Names{"slow"});  // the loser saw operation_aborted and ended
}

TEST_CASE("|| reports the second branch as index 1 when it wins") {
  auto journal = std::make_shared<Journal>();
  auto winner = run_within(lesson004::race({"slow", 5s}, {"fast", 10ms}, journal));
  REQUIRE(winner.index() == 1);
  CHECK(std::get<1>(winner) == "fast");
  CHECK(journal->names_that("cancelled") == Names{"slow"});
}

TEST_CASE("|| waits for the first SUCCESS: a failing branch does not end the race") {
  auto journal = std::make_shared<Journal>();
  auto start = tut::clock::now();
  auto winner = run_within(lesson004::race({"broken", 10ms, true}, {"steady", 150ms}, journal));
  auto took = tut::clock::now() - start;
  REQUIRE(winner.index() == 1);
  CHECK(std::get<1>(winner) == "steady");
  CHECK(took >= 150ms);  // it went on after the failure at 10 ms
  CHECK(journal->names_that("failed") == Names{"broken"});
  CHECK(journal->names_that("cancelled").empty());
}

TEST_CASE("|| throws when every branch fails, holding the first failure") {
  auto journal = std::make_shared<Journal>();
  try {
    run_within(lesson004::race({"second", 150ms, true}, {"first", 10ms, true}, journal));
    FAIL("race should have thrown");
  } catch (const asio::multiple_exceptions& e) {
    CHECK(message_of(e.first_exception()) == "first failed");
  }
  CHECK(journal->names_that("failed") == Names{"first", "second"});
}

// ----------------------------------------------------------------------------- wait policies

TEST_CASE("FIRST_COMPLETED (wait_for_one) ends at the first completion, even a failure") {
  std::array<Job, 3> jobs{{{"steady", 5s}, {"broken", 10ms, true}, {"medium", 4s}}};
  auto snap = wait_and_snapshot(jobs, ReturnWhen::first_completed);
  CHECK(snap.result.order[0] == 1);
  CHECK(lesson004::describe(snap.result.outcomes[1]) == "error: broken failed");
  CHECK(tut::is_cancellation(lesson004::error_of(snap.result.outcomes[0])));
  CHECK(tut::is_cancellation(lesson004::error_of(snap.result.outcomes[2])));
  // The losers have ended (cancelled) by the time the wait returns: none outlives it.
  auto cancelled = snap.journal_at_return.names_that("cancelled");
  std::sort(cancelled.begin(), cancelled.end());
  CHECK(cancelled == Names{"medium", "steady"});
  CHECK(snap.took < 3s);  // far below the losers' 4-5 s: they were cut short
}

TEST_CASE("FIRST_COMPLETED with a success first returns its value and cancels the rest") {
  std::array<Job, 3> jobs{{{"a", 5s}, {"b", 5s}, {"c", 10ms}}};
  auto snap = wait_and_snapshot(jobs, ReturnWhen::first_completed);
  CHECK(snap.result.order[0] == 2);
  CHECK(lesson004::describe(snap.result.outcomes[2]) == "value c");
  CHECK(lesson004::describe(snap.result.outcomes[0]) == "cancelled");
  CHECK(lesson004::describe(snap.result.outcomes[1]) == "cancelled");
  CHECK(snap.journal_at_return.names_that("cancelled").size() == 2);
}

TEST_CASE("FIRST_EXCEPTION (wait_for_one_error): successes do not end the wait, a failure does") {
  std::array<Job, 3> jobs{{{"slow", 5s}, {"ok", 10ms}, {"bad", 150ms, true}}};
  auto snap = wait_and_snapshot(jobs, ReturnWhen::first_exception);
  CHECK(snap.result.order == Order{1, 2, 0});
  CHECK(lesson004::describe(snap.result.outcomes[1]) == "value ok");
  CHECK(lesson004::describe(snap.result.outcomes[2]) == "error: bad failed");
  CHECK(lesson004::describe(snap.result.outcomes[0]) == "cancelled");
  CHECK(snap.journal_at_return.names_that("cancelled") == Names{"slow"});
}

TEST_CASE("FIRST_EXCEPTION without any failure waits for all") {
  std::array<Job, 3> jobs{{{"x", 300ms}, {"y", 100ms}, {"z", 200ms}}};
  auto snap = wait_and_snapshot(jobs, ReturnWhen::first_exception);
  CHECK(snap.result.order == Order{1, 2, 0});
  for (const auto& outcome : snap.result.outcomes) CHECK_FALSE(lesson004::error_of(outcome));
  CHECK(snap.journal_at_return.names_that("cancelled").empty());
  CHECK(snap.took >= 300ms);
}

TEST_CASE("ALL_COMPLETED (wait_for_all) cancels nothing and gives the completion order") {
  std::array<Job, 3> jobs{{{"slow", 300ms}, {"bad", 200ms, true}, {"quick", 100ms}}};
  auto snap = wait_and_snapshot(jobs, ReturnWhen::all_completed);
  CHECK(snap.result.order == Order{2, 1, 0});
  CHECK(lesson004::describe(snap.result.outcomes[0]) == "value slow");
  CHECK(lesson004::describe(snap.result.outcomes[1]) == "error: bad failed");
  CHECK(lesson004::describe(snap.result.outcomes[2]) == "value quick");
  CHECK(snap.journal_at_return.names_that("cancelled").empty());
}

TEST_CASE("every policy reports every failure when all jobs fail") {
  // Spaced by 100 ms so the order holds on a loaded machine.
  std::array<Job, 3> jobs{{{"p", 300ms, true}, {"q", 100ms, true}, {"r", 200ms, true}}};
  auto all = wait_and_snapshot(jobs, ReturnWhen::all_completed);
  CHECK(all.result.order == Order{1, 2, 0});
  for (const auto& outcome : all.result.outcomes) {
    REQUIRE(lesson004::error_of(outcome));
    CHECK_FALSE(tut::is_cancellation(lesson004::error_of(outcome)));
  }
  // FIRST_EXCEPTION stops at the first failure and cancels the other two. They would fail
  // only after 10 s, so a stalled machine cannot let them fail before they are cancelled.
  std::array<Job, 3> slow_losers{{{"p", 10s, true}, {"q", 100ms, true}, {"r", 10s, true}}};
  auto first_error = wait_and_snapshot(slow_losers, ReturnWhen::first_exception);
  CHECK(first_error.result.order[0] == 1);
  CHECK(lesson004::describe(first_error.result.outcomes[1]) == "error: q failed");
  CHECK(tut::is_cancellation(lesson004::error_of(first_error.result.outcomes[0])));
  CHECK(tut::is_cancellation(lesson004::error_of(first_error.result.outcomes[2])));
}

TEST_CASE("cancelling the waiter cancels the whole group (asyncio.wait would not)") {
  auto journal = std::make_shared<Journal>();
  auto snap = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<WaitResult> {
    auto executor = co_await asio::this_coro::executor;
    asio::cancellation_signal signal;
    std::optional<WaitResult> result;
    std::array<Job, 3> jobs{{{"a", 5s}, {"b", 5s}, {"c", 5s}}};
    auto waiter = lesson004::wait_jobs(jobs, ReturnWhen::all_completed, shared);
    asio::co_spawn(executor, std::move(waiter),
                   asio::bind_cancellation_slot(signal.slot(),
                                                [&result](std::exception_ptr error, WaitResult r) {
                                                  if (error) std::rethrow_exception(error);
                                                  result = r;
                                                }));
    asio::steady_timer timer(executor, 20ms);
    co_await timer.async_wait(asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    while (!result) {  // the group ends once every job has seen the cancellation
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return *result;
  }(journal));
  for (const auto& outcome : snap.outcomes)
    CHECK(tut::is_cancellation(lesson004::error_of(outcome)));
  CHECK(journal->names_that("cancelled").size() == 3);
}

TEST_CASE("wait_jobs rejects an unknown policy") {
  auto journal = std::make_shared<Journal>();
  std::array<Job, 3> jobs{{{"a", 1ms}, {"b", 1ms}, {"c", 1ms}}};
  // It throws before its first suspension; tut::run rethrows it like any other exception.
  CHECK_THROWS_AS(tut::run(lesson004::wait_jobs(jobs, static_cast<ReturnWhen>(42), journal)),
                  std::invalid_argument);
}

// ----------------------------------------------------------------------------- as_completed

TEST_CASE("as_completed hands results out in completion order, not submission order") {
  auto journal = std::make_shared<Journal>();
  auto got =
      run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<std::vector<std::size_t>> {
        auto executor = co_await asio::this_coro::executor;
        // 100 ms apart: the order must hold even if the machine stalls for a while.
        std::vector<Job> jobs{{"j0", 300ms}, {"j1", 100ms}, {"j2", 200ms, true}, {"j3", 400ms}};
        AsCompleted pending(executor, std::move(jobs), shared);
        std::vector<std::size_t> indices;
        while (pending.remaining() > 0) {
          Completed next = co_await pending.next();
          CHECK(next.name == "j" + std::to_string(next.index));
          if (next.index == 2)
            CHECK(lesson004::describe(next.outcome) == "error: j2 failed");
          else
            CHECK(std::get<std::string>(next.outcome) == next.name);
          indices.push_back(next.index);
        }
        co_return indices;
      }(journal));
  CHECK(got == std::vector<std::size_t>{1, 2, 0, 3});
  CHECK(journal->names_that("cancelled").empty());
}

TEST_CASE("as_completed leaves the others running after the first result") {
  auto journal = std::make_shared<Journal>();
  auto names = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<Names> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"later", 110ms}, {"first", 10ms}};
    AsCompleted pending(executor, std::move(jobs), shared);
    Completed first = co_await pending.next();
    CHECK(pending.remaining() == 1);
    // Nobody waits for "later" now; it keeps running and its result waits in the queue.
    asio::steady_timer timer(executor, 150ms);
    co_await timer.async_wait(asio::use_awaitable);
    CHECK(shared->names_that("done") == Names{"first", "later"});
    Completed later = co_await pending.next();
    co_return Names{first.name, std::get<std::string>(later.outcome)};
  }(journal));
  CHECK(names == Names{"first", "later"});
  CHECK(journal->names_that("cancelled").empty());
}

TEST_CASE("as_completed cancel_running cancels only the jobs still running") {
  auto journal = std::make_shared<Journal>();
  auto outcomes = run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<Names> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"long1", 5s}, {"short", 10ms}, {"long2", 5s}};
    AsCompleted pending(executor, std::move(jobs), shared);
    Names seen;
    Completed first = co_await pending.next();
    seen.push_back(first.name + ": " + lesson004::describe(first.outcome));
    pending.cancel_running();
    while (pending.remaining() > 0) {
      Completed next = co_await pending.next();
      seen.push_back(next.name + ": " + lesson004::describe(next.outcome));
    }
    co_return seen;
  }(journal));
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[0] == "short: value short");
  std::sort(outcomes.begin() + 1, outcomes.end());
  CHECK(outcomes[1] == "long1: cancelled");
  CHECK(outcomes[2] == "long2: cancelled");
}

TEST_CASE("as_completed: next() past the end is a clear error") {
  auto journal = std::make_shared<Journal>();
  run_within([](std::shared_ptr<Journal> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    AsCompleted none(executor, {}, shared);
    CHECK(none.remaining() == 0);
    CHECK_THROWS_AS(none.next(), std::logic_error);
    std::vector<Job> jobs{{"only", 1ms}};
    AsCompleted one(executor, std::move(jobs), shared);
    co_await one.next();
    CHECK_THROWS_AS(one.next(), std::logic_error);
  }(journal));
}

TEST_CASE("as_completed: jobs outlive a destroyed AsCompleted and still finish") {
  auto journal = std::make_shared<Journal>();
  tut::run([](std::shared_ptr<Journal> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    {
      std::vector<Job> jobs{{"orphan1", 10ms}, {"orphan2", 20ms}};
      AsCompleted dropped(executor, std::move(jobs), shared);
    }  // destroyed at once: the jobs hold the shared state and run on
    co_return;
  }(journal));  // run returns when no work is left: after both jobs ended
  CHECK(journal->names_that("done") == Names{"orphan1", "orphan2"});
}

TEST_CASE("as_completed: next() raced with a timeout in the same turn loses no result") {
  // The job's timer and the timeout's timer both expire while the loop is held, so they
  // complete in one turn; `delay` puts the job's just after the timeout's, then just before.
  // Whichever branch of `||` wins, the job's result must be handed out exactly once.
  for (auto delay : {60ms, 40ms}) {
    auto seen = run_within([](std::chrono::milliseconds job_delay) -> asio::awaitable<Names> {
      using namespace asio::experimental::awaitable_operators;
      auto executor = co_await asio::this_coro::executor;
      std::vector<Job> jobs{{"j", job_delay}};
      AsCompleted pending(executor, std::move(jobs), std::make_shared<Journal>());
      asio::steady_timer timeout(executor, 50ms);
      // Hold the loop from its first turn (a posted handler runs before any timer is due)
      // until both timers have expired.
      asio::post(executor, [] { std::this_thread::sleep_for(200ms); });
      auto receiving = pending.next();
      auto timing = timeout.async_wait(asio::use_awaitable);
      auto first = co_await (std::move(receiving) || std::move(timing));
      Names events{first.index() == 0 ? "next: " + std::get<0>(first).name : "timeout"};
      events.push_back("remaining " + std::to_string(pending.remaining()));
      if (pending.remaining() > 0) {
        Completed again = co_await pending.next();
        events.push_back("next: " + again.name);
      }
      co_return events;
    }(delay));
    CAPTURE(delay.count(), seen);
    CHECK((seen == Names{"next: j", "remaining 0"} ||
           seen == Names{"timeout", "remaining 1", "next: j"}));
  }
}

TEST_CASE("as_completed: a cancelled next() throws operation_aborted, and the result stays") {
  auto seen = run_within([]() -> asio::awaitable<Names> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"slow", 5s}};
    AsCompleted pending(executor, std::move(jobs), std::make_shared<Journal>());
    // next() in a coroutine of its own, bound to a signal, so the test can cancel it.
    asio::cancellation_signal signal;
    bool ended = false;
    std::exception_ptr error;
    asio::co_spawn(executor, pending.next(),
                   asio::bind_cancellation_slot(signal.slot(),
                                                [&](std::exception_ptr e, Completed) {
                                                  ended = true;
                                                  error = e;
                                                }));
    asio::steady_timer timer(executor, 20ms);
    co_await timer.async_wait(asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    while (!ended) {
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    // The same error as every cancelled operation (a timeout recognises it), not the
    // channel's own channel_cancelled.
    CHECK(tut::is_cancellation(error));
    CHECK(pending.remaining() == 1);
    pending.cancel_running();
    Completed last = co_await pending.next();
    co_return Names{last.name, lesson004::describe(last.outcome)};
  }());
  CHECK(seen == Names{"slow", "cancelled"});
}

TEST_CASE("as_completed: next() && next() is refused at the call instead of hanging") {
  auto name = run_within(
      [](std::shared_ptr<Journal> shared) -> asio::awaitable<std::string> {
        using namespace asio::experimental::awaitable_operators;
        auto executor = co_await asio::this_coro::executor;
        std::vector<Job> jobs{{"only", 10ms}};
        AsCompleted pending(executor, std::move(jobs), shared);
        bool refused = false;
        try {
          auto first = pending.next();
          auto second = pending.next();  // neither has started: the first has claimed it
          // Only one result exists: with a claim taken lazily, one side would wait forever.
          co_await (std::move(first) && std::move(second));
        } catch (const std::logic_error&) {
          refused = true;
        }
        CHECK(refused);
        // `first` was dropped unawaited: its claim went with it.
        Completed only = co_await pending.next();
        co_return only.name;
      }(std::make_shared<Journal>()),
      3s);
  CHECK(name == "only");
}
