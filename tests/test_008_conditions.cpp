#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <variant>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "async_condition.hpp"
#include "job_board.hpp"
#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson006::Mutex;
using lesson008::Condition;
using tut::test::run_within;

namespace {

using tut::test::yield_once;

// A mutex and a condition that outlive every task of a test (tasks share it by shared_ptr).
struct Shared {
  explicit Shared(asio::any_io_executor executor) : mutex(std::move(executor)), cond(mutex) {}
  Mutex mutex;
  Condition cond;
  std::vector<int> woken;  // ids of the waiters whose wait() returned, in order
};

enum class WaitEnd { pending, returned, aborted };

struct Waited {
  WaitEnd outcome = WaitEnd::pending;
  bool locked_after = false;  // was the mutex locked when wait() returned or threw?
};

// Locks, waits once, records the outcome and whether the lock was held again, unlocks.
asio::awaitable<void> waiter(std::shared_ptr<Shared> shared, int id, Waited* result) {
  auto guard = co_await shared->mutex.lock();
  try {
    co_await shared->cond.wait();
    result->outcome = WaitEnd::returned;
    shared->woken.push_back(id);
  } catch (const std::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
    result->outcome = WaitEnd::aborted;
  }
  result->locked_after = shared->mutex.locked();
}

}  // namespace

TEST_CASE("wait and notify without the lock held throw std::logic_error") {
  run_within([]() -> asio::awaitable<void> {
    auto shared = std::make_shared<Shared>(co_await asio::this_coro::executor);
    CHECK_THROWS_AS(shared->cond.notify(), std::logic_error);
    CHECK_THROWS_AS(shared->cond.notify_all(), std::logic_error);
    bool threw = false;
    try {
      co_await shared->cond.wait();
    } catch (const std::logic_error&) {
      threw = true;
    }
    CHECK(threw);
    CHECK_FALSE(shared->mutex.locked());
    auto guard = co_await shared->mutex.lock();
    shared->cond.notify();  // with the lock held and nobody waiting: a no-op
    shared->cond.notify_all();
    co_await yield_once();
  }());
}

TEST_CASE("wait releases the lock while it waits and holds it again when it returns") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    Waited result;
    asio::co_spawn(executor, waiter(shared, 1, &result), tut::rethrow);
    co_await yield_once();
    CHECK(shared->cond.waiting() == 1);
    CHECK_FALSE(shared->mutex.locked());  // released by wait()

    auto guard = co_await shared->mutex.lock();
    shared->cond.notify();
    CHECK(result.outcome == WaitEnd::pending);  // never woken inside notify()
    co_await yield_once();
    CHECK(result.outcome == WaitEnd::pending);  // woken, but it needs the lock we hold
    guard.unlock();
    CHECK(result.outcome == WaitEnd::pending);
    co_await yield_once();
    CHECK(result.outcome == WaitEnd::returned);
    CHECK(result.locked_after);           // wait() returned with the lock held
    CHECK_FALSE(shared->mutex.locked());  // and the waiter's guard released it
  }());
}

TEST_CASE("notify(n) wakes at most n waiters first come first served") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    std::vector<Waited> results(4);
    for (int id = 0; id < 4; ++id) {
      asio::co_spawn(executor, waiter(shared, id, &results[id]), tut::rethrow);
      co_await yield_once();
    }
    REQUIRE(shared->cond.waiting() == 4);
    {
      auto guard = co_await shared->mutex.lock();
      shared->cond.notify(2);
      CHECK(shared->cond.waiting() == 2);
    }
    for (int i = 0; i < 5; ++i) co_await yield_once();
    CHECK(shared->woken == std::vector<int>{0, 1});
    {
      auto guard = co_await shared->mutex.lock();
      shared->cond.notify_all();
    }
    while (shared->woken.size() < 4) co_await yield_once();
    CHECK(shared->woken == std::vector<int>{0, 1, 2, 3});
  }());
}

TEST_CASE("wait_for checks the predicate first and again after every wake-up") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    int value = 0;
    int checks = 0;
    std::function<bool()> ready = [&] { ++checks; return value >= 2; };
    bool done = false;
    auto task = [](std::shared_ptr<Shared> s, std::function<bool()> predicate,
                   bool* finished) -> asio::awaitable<void> {
      auto guard = co_await s->mutex.lock();
      co_await s->cond.wait_for(predicate);
      CHECK(s->mutex.locked());
      *finished = true;
    };
    asio::co_spawn(executor, task(shared, ready, &done), tut::rethrow);
    co_await yield_once();
    CHECK(checks == 1);  // checked once, false: waiting

    for (int step = 1; step <= 2; ++step) {
      {
        auto guard = co_await shared->mutex.lock();
        value = step;
        shared->cond.notify_all();
      }
      for (int i = 0; i < 3; ++i) co_await yield_once();
      CHECK(checks == step + 1);   // woken: checked again
      CHECK(done == (step == 2));  // the first wake-up was not enough
    }

    // Already true: wait_for returns without waiting, and even without the lock check.
    auto guard = co_await shared->mutex.lock();
    co_await shared->cond.wait_for(ready);
    CHECK(shared->cond.waiting() == 0);
  }());
}

TEST_CASE("a cancelled wait re-acquires the lock before it throws") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    Waited result;
    asio::cancellation_signal cancel;
    asio::co_spawn(executor, waiter(shared, 1, &result),
                   asio::bind_cancellation_slot(cancel.slot(), tut::rethrow));
    co_await yield_once();
    REQUIRE(shared->cond.waiting() == 1);

    auto guard = co_await shared->mutex.lock();  // hold the lock the waiter needs back
    cancel.emit(asio::cancellation_type::terminal);
    CHECK(shared->cond.waiting() == 0);  // it left the condition's queue at once
    for (int i = 0; i < 3; ++i) co_await yield_once();
    CHECK(result.outcome == WaitEnd::pending);  // it cannot throw before it has the lock
    guard.unlock();
    for (int i = 0; i < 3; ++i) co_await yield_once();
    CHECK(result.outcome == WaitEnd::aborted);
    CHECK(result.locked_after);  // it held the lock when the error reached it
    CHECK_FALSE(shared->mutex.locked());
  }());
}

TEST_CASE("a wait that loses an || race against a timer returns with the lock held") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    auto guard = co_await shared->mutex.lock();
    asio::steady_timer timeout(executor, 20ms);
    auto race = shared->cond.wait() || timeout.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);
    CHECK(shared->mutex.locked());  // our guard still owns the lock
    CHECK(shared->cond.waiting() == 0);
    guard.unlock();
    CHECK(shared->mutex.try_lock());  // and nothing else holds or waits for it
    shared->mutex.unlock();
  }());
}

TEST_CASE("a waiter notified and cancelled before it runs passes the notification on") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto shared = std::make_shared<Shared>(executor);
    Waited first, second;
    asio::cancellation_signal cancel_first;
    asio::co_spawn(executor, waiter(shared, 1, &first),
                   asio::bind_cancellation_slot(cancel_first.slot(), tut::rethrow));
    asio::co_spawn(executor, waiter(shared, 2, &second), tut::rethrow);
    co_await yield_once();
    REQUIRE(shared->cond.waiting() == 2);
    {
      auto guard = co_await shared->mutex.lock();
      shared->cond.notify(1);                                // wakes `first`...
      cancel_first.emit(asio::cancellation_type::terminal);  // ...cancelled before it runs
    }
    // Without the hand-over `second` would wait forever and run_within would fail.
    while (second.outcome == WaitEnd::pending) co_await yield_once();
    CHECK(first.outcome == WaitEnd::aborted);
    CHECK(second.outcome == WaitEnd::returned);
    CHECK(shared->woken == std::vector<int>{2});
  }());
}

TEST_CASE("workers share a job board and every job is taken exactly once") {
  auto taken = run_within([]() -> asio::awaitable<std::vector<std::string>> {
    auto board = std::make_shared<lesson008::JobBoard>(co_await asio::this_coro::executor);
    auto producer = [](std::shared_ptr<lesson008::JobBoard> b) -> asio::awaitable<void> {
      for (int round = 0; round < 4; ++round) {
        std::vector<std::string> jobs{"job-" + std::to_string(2 * round),
                                      "job-" + std::to_string(2 * round + 1)};
        co_await lesson008::post_jobs(b, jobs);
        co_await yield_once();
      }
      co_await lesson008::close_board(b);
    };
    std::vector<std::vector<std::string>> per_worker(3);
    auto worker = [](std::shared_ptr<lesson008::JobBoard> b,
                     std::vector<std::string>* result) -> asio::awaitable<void> {
      *result = co_await lesson008::take_jobs(b, "worker", 1ms);
    };
    auto everyone = worker(board, &per_worker[0]) && worker(board, &per_worker[1]) &&
                    worker(board, &per_worker[2]) && producer(board);
    co_await std::move(everyone);
    CHECK(board->jobs.empty());
    std::vector<std::string> all;
    for (const auto& jobs : per_worker) all.insert(all.end(), jobs.begin(), jobs.end());
    std::sort(all.begin(), all.end());
    co_return all;
  }());
  CHECK(taken == std::vector<std::string>{"job-0", "job-1", "job-2", "job-3", "job-4", "job-5",
                                          "job-6", "job-7"});
}

// ---- the steady_timer rule: destroying the condition, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

struct Ended {
  bool done = false;
  bool aborted = false;
  bool locked_after = false;  // wait() re-acquired the mutex before it threw
};

asio::awaitable<void> wait_notified(Mutex* mutex, Condition* cond, Ended* ended) {
  auto guard = co_await mutex->lock();
  try {
    co_await cond->wait();
  } catch (const std::system_error& error) {
    ended->aborted = error.code() == asio::error::operation_aborted;
  }
  ended->locked_after = mutex->locked();
  ended->done = true;
}

asio::awaitable<void> wait_unnotified(std::shared_ptr<Shared> shared, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  auto guard = co_await shared->mutex.lock();
  co_await shared->cond.wait();  // nobody notifies: waits until the io_context is destroyed
}

}  // namespace

TEST_CASE("a condition destroyed after notify() but before the woken waiter ran aborts its wait") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);  // outlives the waiter: the waiter's guard refers to it
    auto cond = std::make_unique<Condition>(mutex);
    Ended ended;
    asio::co_spawn(executor, wait_notified(&mutex, cond.get(), &ended), tut::rethrow);
    while (cond->waiting() == 0) co_await yield_once();
    {
      auto guard = co_await mutex.lock();
      cond->notify();  // wakes the waiter: its completion is posted, not run
      cond.reset();    // the posted wake-up, and the waiter, must not reach the condition
    }
    while (!ended.done) co_await yield_once();
    CHECK(ended.aborted);
    CHECK(ended.locked_after);
  }());
}

TEST_CASE("destroying the io_context while a task waits on a condition destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    auto task = wait_unnotified(std::make_shared<Shared>(context.get_executor()), &destroyed);
    asio::co_spawn(context, std::move(task), tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}
