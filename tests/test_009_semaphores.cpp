#include "semaphore.hpp"

#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <variant>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson009::BoundedSemaphore;
using lesson009::Permit;
using lesson009::ReleasedTooManyTimes;
using lesson009::Semaphore;
using tut::test::run_within;

namespace {

using tut::test::let_others_run;
using tut::test::yield_once;

// What a waiter task saw.
struct AcquireLog {
  bool finished = false;
  bool acquired = false;
  std::error_code error;
};

// A task that acquires through async_acquire with `slot` (possibly unconnected), records the
// outcome, and releases right away if it got the permit.
asio::awaitable<void> acquire_once(Semaphore* semaphore, asio::cancellation_slot slot,
                                   AcquireLog* outcome) {
  try {
    co_await semaphore->async_acquire(asio::bind_cancellation_slot(slot, asio::use_awaitable));
    outcome->acquired = true;
    semaphore->release();
  } catch (const std::system_error& error) {
    outcome->error = error.code();
  }
  outcome->finished = true;
}

// A task that takes a permit with acquire(), records `id`, and releases when it ends.
asio::awaitable<void> take_and_record(Semaphore* semaphore, int id, std::vector<int>* order) {
  auto permit = co_await semaphore->acquire();
  order->push_back(id);
}

}  // namespace

TEST_CASE("acquire takes permits until none is left, release and ~Permit give them back") {
  run_within([]() -> asio::awaitable<void> {
    Semaphore semaphore(co_await asio::this_coro::executor, 2);
    CHECK_FALSE(semaphore.locked());
    auto a = co_await semaphore.acquire();
    auto b = co_await semaphore.acquire();
    CHECK(semaphore.value() == 0);
    CHECK(semaphore.locked());

    b.release();
    CHECK_FALSE(b);
    CHECK(semaphore.value() == 1);
    b.release();  // an empty Permit releases nothing
    CHECK(semaphore.value() == 1);
    {
      Permit moved = std::move(a);
      CHECK(moved);
      CHECK_FALSE(a);
      CHECK(semaphore.value() == 1);  // moving a permit does not release it
    }
    CHECK(semaphore.value() == 2);  // the destructor did
    CHECK_FALSE(semaphore.locked());
    co_await yield_once();
  }());
}

TEST_CASE("a negative initial value is refused, like asyncio's ValueError") {
  asio::io_context context;
  CHECK_THROWS_AS(Semaphore(context.get_executor(), -1), std::invalid_argument);
  CHECK_THROWS_AS(BoundedSemaphore(context.get_executor(), -1), std::invalid_argument);
}

TEST_CASE("waiters get permits in FIFO order") {
  std::vector<int> order;
  run_within([&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 0);
    for (int id = 1; id <= 4; ++id) {
      asio::co_spawn(executor, take_and_record(&semaphore, id, &order), tut::rethrow);
    }
    co_await let_others_run();
    CHECK(semaphore.waiting() == 4);
    CHECK(order.empty());
    semaphore.release();  // one permit, passed on from each waiter to the next
    co_await let_others_run();
    CHECK(semaphore.value() == 1);
    CHECK(semaphore.waiting() == 0);
  }());
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("no barging: a new acquire queues behind a woken waiter even if a permit is free") {
  std::vector<int> order;
  run_within([&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 2);
    auto first = co_await semaphore.acquire();
    auto second = co_await semaphore.acquire();
    asio::co_spawn(executor, take_and_record(&semaphore, 1, &order), tut::rethrow);
    co_await let_others_run();
    REQUIRE(semaphore.waiting() == 1);

    first.release();   // wakes waiter 1; it has not run yet
    second.release();  // this permit is free right now...
    CHECK(semaphore.value() == 1);
    CHECK(semaphore.locked());  // ...but a waiter is still queued, so acquire() must wait
    CHECK(semaphore.waiting() == 0);  // woken, with a permit reserved: no longer waiting
    // A newcomer, in the same handler: acquire() must queue, not take the free permit and
    // overtake waiter 1.
    {
      auto mine = co_await semaphore.acquire();
      order.push_back(2);
    }
    co_await let_others_run();
    CHECK(semaphore.value() == 2);
    CHECK(semaphore.waiting() == 0);
  }());
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("wake-ups are posted: the woken task has not run when release() returns") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 1);
    auto held = co_await semaphore.acquire();
    AcquireLog outcome;
    asio::co_spawn(executor, acquire_once(&semaphore, {}, &outcome), tut::rethrow);
    co_await let_others_run();
    REQUIRE(semaphore.waiting() == 1);

    held.release();
    CHECK_FALSE(outcome.finished);  // release() only woke it
    co_await let_others_run();
    CHECK(outcome.acquired);

    // async_acquire completes through the executor even when a permit is free.
    bool called = false;
    semaphore.async_acquire([&](std::error_code) { called = true; });
    CHECK_FALSE(called);
    co_await let_others_run();
    CHECK(called);
    semaphore.release();
  }());
}

TEST_CASE("a waiter cancelled through its slot leaves the queue, the permit goes to the next") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 1);
    auto held = co_await semaphore.acquire();
    asio::cancellation_signal cancel_a;
    AcquireLog a, b;
    asio::co_spawn(executor, acquire_once(&semaphore, cancel_a.slot(), &a), tut::rethrow);
    asio::co_spawn(executor, acquire_once(&semaphore, {}, &b), tut::rethrow);
    co_await let_others_run();
    REQUIRE(semaphore.waiting() == 2);

    cancel_a.emit(asio::cancellation_type::terminal);
    CHECK(semaphore.waiting() == 1);  // left the queue at once
    co_await let_others_run();
    CHECK(a.finished);
    CHECK(a.error == asio::error::operation_aborted);
    CHECK_FALSE(a.acquired);

    held.release();  // the wake-up goes to b, not to the cancelled a
    co_await let_others_run();
    CHECK(b.acquired);
    CHECK(semaphore.value() == 1);
    CHECK(semaphore.waiting() == 0);
  }());
}

TEST_CASE("a waiter that loses a race against a timer (||) leaks nothing") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 1);
    auto held = co_await semaphore.acquire();

    asio::steady_timer timeout(executor, 20ms);
    auto race = semaphore.acquire() || timeout.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);  // the timeout won; acquire() was cancelled
    CHECK(semaphore.waiting() == 0);

    held.release();
    CHECK(semaphore.value() == 1);  // nobody swallowed the permit
    CHECK_FALSE(semaphore.locked());

    // When the permit is free, acquire() wins and the Permit comes out of the race.
    asio::steady_timer never(executor, 10s);
    auto race2 = semaphore.acquire() || never.async_wait(asio::use_awaitable);
    auto winner2 = co_await std::move(race2);
    REQUIRE(winner2.index() == 0);
    CHECK(semaphore.value() == 0);
    std::get<0>(winner2).release();
    CHECK(semaphore.value() == 1);
  }());
}

TEST_CASE("a waiter woken and cancelled in the same moment passes the permit on") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 1);
    auto held = co_await semaphore.acquire();
    asio::cancellation_signal cancel_a;
    AcquireLog a, b;
    asio::co_spawn(executor, acquire_once(&semaphore, cancel_a.slot(), &a), tut::rethrow);
    asio::co_spawn(executor, acquire_once(&semaphore, {}, &b), tut::rethrow);
    co_await let_others_run();
    REQUIRE(semaphore.waiting() == 2);

    held.release();                                    // wakes a...
    cancel_a.emit(asio::cancellation_type::terminal);  // ...which is cancelled before it runs
    co_await let_others_run();
    CHECK(a.error == asio::error::operation_aborted);
    CHECK_FALSE(a.acquired);
    CHECK(b.acquired);  // the permit reached the next waiter
    CHECK(semaphore.value() == 1);
    CHECK(semaphore.waiting() == 0);
  }());
}

TEST_CASE("woken and cancelled with nobody behind it: the permit stays available") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Semaphore semaphore(executor, 1);
    auto held = co_await semaphore.acquire();
    asio::cancellation_signal cancel_a;
    AcquireLog a;
    asio::co_spawn(executor, acquire_once(&semaphore, cancel_a.slot(), &a), tut::rethrow);
    co_await let_others_run();

    held.release();
    CHECK(semaphore.value() == 0);  // reserved for a
    cancel_a.emit(asio::cancellation_type::terminal);
    cancel_a.emit(asio::cancellation_type::terminal);  // a second emit changes nothing
    co_await let_others_run();
    CHECK(a.error == asio::error::operation_aborted);
    CHECK(semaphore.value() == 1);
    CHECK_FALSE(semaphore.locked());
  }());
}

TEST_CASE("BoundedSemaphore refuses a release above its initial value, Semaphore allows it") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    BoundedSemaphore bounded(executor, 2);
    CHECK_THROWS_AS(bounded.release(), ReleasedTooManyTimes);
    CHECK_THROWS_WITH(bounded.release(), "BoundedSemaphore released too many times");
    CHECK(bounded.value() == 2);  // unchanged by the refused releases

    auto permit = co_await bounded.acquire();
    CHECK(bounded.value() == 1);
    permit.release();  // a matched release is fine
    CHECK(bounded.value() == 2);
    CHECK_THROWS_AS(bounded.release(), ReleasedTooManyTimes);

    Semaphore plain(executor, 2);
    plain.release();
    CHECK(plain.value() == 3);
    co_await yield_once();
  }());
}

TEST_CASE("run_limited: with more jobs than permits, exactly `limit` run at once") {
  std::vector<lesson009::milliseconds> six(6, 20ms);
  auto report = run_within(lesson009::run_limited(six, 2));
  CHECK(report.max_running == 2);
  CHECK(report.start_order == std::vector<int>{1, 2, 3, 4, 5, 6});

  auto one_at_a_time = run_within(lesson009::run_limited(six, 1));
  CHECK(one_at_a_time.max_running == 1);

  std::vector<lesson009::milliseconds> three(3, 20ms);
  auto roomy = run_within(lesson009::run_limited(three, 5));
  CHECK(roomy.max_running == 3);  // fewer jobs than permits: all run together

  auto none = run_within(lesson009::run_limited({}, 2));
  CHECK(none.max_running == 0);
  CHECK(none.start_order.empty());
}

TEST_CASE("run_limited on a strand with two threads keeps the limit") {
  // The threading contract: everything on one strand. Two threads run the io_context.
  asio::io_context context;
  auto strand = asio::make_strand(context);
  std::vector<lesson009::milliseconds> six(6, 20ms);
  auto result = asio::co_spawn(strand, lesson009::run_limited(six, 3), asio::use_future);
  std::thread helper([&] { context.run(); });
  context.run();
  helper.join();
  CHECK(result.get().max_running == 3);
}

TEST_CASE("destroying a semaphore fails its pending waiters with operation_aborted") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    std::optional<std::error_code> queued, woken;
    {
      Semaphore semaphore(executor, 0);
      semaphore.async_acquire([&](std::error_code error) { woken = error; });
      semaphore.async_acquire([&](std::error_code error) { queued = error; });
      semaphore.release();  // wakes the first one; the second stays queued
    }
    co_await let_others_run();
    CHECK(queued == std::error_code(asio::error::operation_aborted));
    CHECK(woken == std::error_code(asio::error::operation_aborted));
  }());
}

// ---- the steady_timer rule: destroying the semaphore, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

asio::awaitable<void> acquire_forever(std::shared_ptr<Semaphore> semaphore, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  auto permit = co_await semaphore->acquire();  // no permit, ever: waits until the end
}

}  // namespace

TEST_CASE("a semaphore destroyed after release() but before the woken waiter ran aborts it") {
  run_within([]() -> asio::awaitable<void> {
    auto semaphore = std::make_unique<Semaphore>(co_await asio::this_coro::executor, 0);
    std::optional<std::error_code> result;
    semaphore->async_acquire([&result](std::error_code error) { result = error; });
    semaphore->release();  // wakes the waiter: its completion is posted, not run
    semaphore.reset();     // the posted wake-up must not reach the destroyed semaphore
    while (!result) co_await let_others_run(1);
    CHECK(*result == asio::error::operation_aborted);
  }());
}

TEST_CASE("destroying the io_context while a task waits for a permit destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    auto task = acquire_forever(std::make_shared<Semaphore>(context.get_executor(), 0), &destroyed);
    asio::co_spawn(context, std::move(task), tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}
