#include "barrier.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson011::Barrier;
using lesson011::BrokenBarrierError;
using lesson011::PhaseEvent;
using tut::test::run_within;
using State = lesson011::Barrier::State;

namespace {

using tut::test::let_others_run;

// What one waiting task saw.
struct Outcome {
  bool finished = false;
  std::optional<std::size_t> index;
  std::string broken;     // BrokenBarrierError's message
  std::error_code error;  // operation_aborted if cancelled
};

asio::awaitable<void> wait_once(Barrier* barrier, asio::cancellation_slot slot, Outcome* outcome) {
  try {
    outcome->index =
        co_await barrier->async_wait(asio::bind_cancellation_slot(slot, asio::use_awaitable));
  } catch (const BrokenBarrierError& error) {
    outcome->broken = error.what();
  } catch (const std::system_error& error) {
    outcome->error = error.code();
  }
  outcome->finished = true;
}

// Starts a task that waits once at `barrier` (cancellable through `slot` if connected).
void spawn_wait(asio::any_io_executor executor, Barrier& barrier, Outcome& outcome,
                asio::cancellation_slot slot = {}) {
  asio::co_spawn(executor, wait_once(&barrier, slot, &outcome), tut::rethrow);
}

}  // namespace

TEST_CASE("wait returns arrival-order indices, the arrival that trips the barrier gets parties-1") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 3);
    CHECK(barrier.parties() == 3);
    Outcome a, b, c;
    spawn_wait(executor, barrier, a);
    co_await let_others_run();
    spawn_wait(executor, barrier, b);
    co_await let_others_run();
    CHECK(barrier.n_waiting() == 2);
    CHECK_FALSE(a.finished);
    CHECK_FALSE(b.finished);

    spawn_wait(executor, barrier, c);
    co_await let_others_run();
    CHECK(a.index == 0u);
    CHECK(b.index == 1u);
    CHECK(c.index == 2u);
    CHECK(barrier.state() == State::filling);
    CHECK(barrier.n_waiting() == 0);
  }());
}

TEST_CASE("the barrier is reusable: no worker starts a round before all finished the last") {
  std::vector<std::vector<lesson011::milliseconds>> work{
      {10ms, 30ms, 20ms, 10ms},
      {20ms, 10ms, 30ms, 30ms},
      {30ms, 20ms, 10ms, 20ms},
  };
  auto events = run_within(lesson011::run_in_phases(work));
  REQUIRE(events.size() == 3 * 4 * 2);

  for (int round = 1; round <= 4; ++round) {
    // Positions of this round's events in the overall order.
    std::vector<std::size_t> finished, passed, next_round_finished;
    std::vector<int> finish_order, index_order(3);
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      if (e.round == round && e.kind == PhaseEvent::Kind::finished_work) {
        finished.push_back(i);
        finish_order.push_back(e.worker);
      }
      if (e.round == round && e.kind == PhaseEvent::Kind::passed) {
        passed.push_back(i);
        REQUIRE(e.index < 3);
        index_order[e.index] = e.worker;
      }
      if (e.round == round + 1 && e.kind == PhaseEvent::Kind::finished_work) {
        next_round_finished.push_back(i);
      }
    }
    REQUIRE(finished.size() == 3);
    REQUIRE(passed.size() == 3);
    // Nobody passed before the last worker of the round arrived...
    CHECK(*std::min_element(passed.begin(), passed.end()) >
          *std::max_element(finished.begin(), finished.end()));
    // ...and nobody finished the next round before everyone passed this one.
    if (!next_round_finished.empty()) {
      CHECK(*std::min_element(next_round_finished.begin(), next_round_finished.end()) >
            *std::max_element(passed.begin(), passed.end()));
    }
    // Indices 0, 1, 2 each once, in arrival order.
    CHECK(index_order == finish_order);
  }
}

TEST_CASE("n_waiting counts while filling, an arrival while draining joins the next phase") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 2);
    Outcome a, late;
    spawn_wait(executor, barrier, a);
    co_await let_others_run();
    CHECK(barrier.n_waiting() == 1);

    // The second arrival trips the barrier. Its call only posts the wake-ups.
    std::optional<std::size_t> b_index;
    barrier.async_wait([&](std::exception_ptr error, std::size_t index) {
      CHECK_FALSE(error);
      b_index = index;
    });
    CHECK(barrier.state() == State::draining);
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(a.finished);  // not resumed inside async_wait()
    CHECK_FALSE(b_index);

    // Arriving now, while the phase drains: held back for the next phase.
    spawn_wait(executor, barrier, late);
    co_await let_others_run();
    CHECK(a.index == 0u);
    CHECK(b_index == 1u);
    CHECK_FALSE(late.finished);
    CHECK(barrier.state() == State::filling);
    CHECK(barrier.n_waiting() == 1);  // `late` now counts in the new phase

    Outcome last;
    spawn_wait(executor, barrier, last);
    co_await let_others_run();
    CHECK(late.index == 0u);
    CHECK(last.index == 1u);
  }());
}

TEST_CASE("abort fails the current waiters, and every later wait fails at once") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 3);
    Outcome a, b;
    spawn_wait(executor, barrier, a);
    spawn_wait(executor, barrier, b);
    co_await let_others_run();
    REQUIRE(barrier.n_waiting() == 2);

    barrier.abort();
    CHECK(barrier.broken());
    CHECK(barrier.n_waiting() == 0);
    CHECK_FALSE(a.finished);  // woken, not run inside abort()
    co_await let_others_run();
    CHECK(a.broken == "Abort or reset of barrier");
    CHECK(b.broken == "Abort or reset of barrier");

    // A later wait does not wait for other parties: it fails straight away.
    std::string later;
    try {
      co_await barrier.wait();
    } catch (const BrokenBarrierError& error) {
      later = error.what();
    }
    CHECK(later == "Barrier aborted");
    CHECK(barrier.broken());

    // reset() repairs it.
    barrier.reset();
    CHECK_FALSE(barrier.broken());
    Outcome x, y, z;
    spawn_wait(executor, barrier, x);
    spawn_wait(executor, barrier, y);
    spawn_wait(executor, barrier, z);
    co_await let_others_run();
    CHECK(x.index == 0u);
    CHECK(y.index == 1u);
    CHECK(z.index == 2u);
  }());
}

TEST_CASE("reset fails the waiting tasks with BrokenBarrierError and makes the barrier usable") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 3);
    Outcome a, b, early;
    spawn_wait(executor, barrier, a);
    spawn_wait(executor, barrier, b);
    co_await let_others_run();

    barrier.reset();
    CHECK(barrier.state() == State::resetting);  // a and b are still inside
    CHECK_FALSE(barrier.broken());
    spawn_wait(executor, barrier, early);  // arrives while resetting: held back
    co_await let_others_run();
    CHECK(a.broken == "Abort or reset of barrier");
    CHECK(b.broken == "Abort or reset of barrier");
    CHECK(barrier.state() == State::filling);
    CHECK_FALSE(early.finished);
    CHECK(barrier.n_waiting() == 1);  // `early` counts in the fresh phase

    Outcome c, d;
    spawn_wait(executor, barrier, c);
    spawn_wait(executor, barrier, d);
    co_await let_others_run();
    CHECK(early.index == 0u);
    CHECK(c.index == 1u);
    CHECK(d.index == 2u);
  }());
}

TEST_CASE("a waiter cancelled while filling leaves, the count drops, indices stay unique") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 3);
    asio::cancellation_signal cancel_a;
    Outcome a, b;
    spawn_wait(executor, barrier, a, cancel_a.slot());
    spawn_wait(executor, barrier, b);
    co_await let_others_run();
    REQUIRE(barrier.n_waiting() == 2);

    cancel_a.emit(asio::cancellation_type::terminal);
    CHECK(barrier.n_waiting() == 1);  // left at once; still filling
    CHECK(barrier.state() == State::filling);
    co_await let_others_run();
    CHECK(a.error == asio::error::operation_aborted);
    CHECK_FALSE(a.index);

    Outcome c, d;
    spawn_wait(executor, barrier, c);
    co_await let_others_run();
    CHECK_FALSE(b.finished);  // a's departure means one more party is needed
    spawn_wait(executor, barrier, d);
    co_await let_others_run();
    std::set<std::size_t> indices{*b.index, *c.index, *d.index};
    CHECK(indices == std::set<std::size_t>{0, 1, 2});
    CHECK(b.index == 0u);
  }());
}

TEST_CASE("a waiter cancelled after the trip, before it ran, fails, the others of its phase pass") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 3);
    asio::cancellation_signal cancel_b;
    Outcome a, b, c;
    spawn_wait(executor, barrier, a);
    spawn_wait(executor, barrier, b, cancel_b.slot());
    co_await let_others_run();

    // In one handler: c trips the barrier (b is woken), then b is cancelled before it runs.
    barrier.async_wait([&](std::exception_ptr error, std::size_t index) {
      CHECK_FALSE(error);
      c.index = index;
      c.finished = true;
    });
    cancel_b.emit(asio::cancellation_type::terminal);
    co_await let_others_run();
    CHECK(a.index == 0u);
    CHECK(b.error == asio::error::operation_aborted);
    CHECK_FALSE(b.index);
    CHECK(c.index == 2u);
    CHECK(barrier.state() == State::filling);  // the barrier itself is unharmed

    Outcome x, y, z;
    spawn_wait(executor, barrier, x);
    spawn_wait(executor, barrier, y);
    spawn_wait(executor, barrier, z);
    co_await let_others_run();
    CHECK(z.index == 2u);
  }());
}

TEST_CASE("a wait that loses a race against a timer (||) leaves the barrier intact") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 2);
    asio::steady_timer timeout(executor, 20ms);
    auto race = barrier.wait() || timeout.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);
    CHECK(barrier.n_waiting() == 0);

    Outcome a, b;
    spawn_wait(executor, barrier, a);
    spawn_wait(executor, barrier, b);
    co_await let_others_run();
    CHECK(a.index == 0u);  // the cancelled wait did not count as a party
    CHECK(b.index == 1u);
  }());
}

TEST_CASE("parties = 1: every wait passes at once with index 0, parties = 0 is refused") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Barrier barrier(executor, 1);
    for (int i = 0; i < 3; ++i) {
      auto index = co_await barrier.wait();
      CHECK(index == 0u);
    }
    CHECK(barrier.state() == State::filling);
  }());
  asio::io_context context;
  CHECK_THROWS_AS(Barrier(context.get_executor(), 0), std::invalid_argument);
}

TEST_CASE("destroying a barrier fails its pending waits with operation_aborted") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    std::exception_ptr error;
    bool called = false;
    {
      Barrier barrier(executor, 2);
      barrier.async_wait([&](std::exception_ptr e, std::size_t) {
        error = e;
        called = true;
      });
    }
    co_await let_others_run();
    REQUIRE(called);
    CHECK_THROWS_AS(std::rethrow_exception(error), std::system_error);
  }());
}

TEST_CASE("run_with_failure: abort() releases the waiting worker and refuses the late one") {
  auto outcomes = run_within(lesson011::run_with_failure(3, 2));
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[0] == "BrokenBarrierError: Abort or reset of barrier");
  CHECK(outcomes[1] == "failed, aborted the barrier");
  CHECK(outcomes[2] == "BrokenBarrierError: Barrier aborted");
}

// ---- the steady_timer rule: destroying the barrier, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

asio::awaitable<void> wait_alone(std::shared_ptr<Barrier> barrier, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  co_await barrier->wait();  // the other party never comes: waits until the end
}

}  // namespace

TEST_CASE("a barrier destroyed after it tripped but before its waiters ran aborts their waits") {
  run_within([]() -> asio::awaitable<void> {
    auto barrier = std::make_unique<Barrier>(co_await asio::this_coro::executor, 2);
    std::vector<std::exception_ptr> errors;
    auto record = [&errors](std::exception_ptr error, std::size_t) { errors.push_back(error); };
    barrier->async_wait(record);
    barrier->async_wait(record);  // trips it: both completions are posted, not run
    barrier.reset();              // the posted wake-ups must not reach the destroyed barrier
    while (errors.size() < 2) co_await let_others_run(1);
    CHECK(tut::is_cancellation(errors[0]));
    CHECK(tut::is_cancellation(errors[1]));
  }());
}

TEST_CASE("destroying the io_context while a task waits at a barrier destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    auto task = wait_alone(std::make_shared<Barrier>(context.get_executor(), 2), &destroyed);
    asio::co_spawn(context, std::move(task), tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}
