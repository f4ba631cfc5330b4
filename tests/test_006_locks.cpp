#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
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
#include <asio/use_future.hpp>

#include "async_mutex.hpp"
#include "bank.hpp"
#include "sleep.hpp"
#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson006::LockGuard;
using lesson006::Mutex;
using tut::test::run_within;

namespace {

using tut::test::yield_once;

// What a waiting task went through, filled in by `waiter` below.
struct WaiterLog {
  bool got_lock = false;
  bool aborted = false;
};

// Locks `mutex` (which must outlive it), records the outcome, holds the lock for one turn.
asio::awaitable<void> waiter(Mutex* mutex, std::vector<int>* order, int id, WaiterLog* log) {
  try {
    auto guard = co_await mutex->lock();
    log->got_lock = true;
    if (order) order->push_back(id);
    co_await yield_once();  // keep it a little, so the others really have to queue
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) log->aborted = true;
    else throw;
  }
}

}  // namespace

TEST_CASE("without a lock a check-then-act across a co_await loses updates") {
  std::vector<std::string> names{"a", "b", "c", "d"};
  CHECK(run_within(lesson006::deposit_concurrently(names, false, 20ms)) == 1);
}

TEST_CASE("with the mutex no update is lost") {
  std::vector<std::string> names{"a", "b", "c", "d"};
  CHECK(run_within(lesson006::deposit_concurrently(names, true, 10ms)) == 4);
  CHECK_THROWS_AS(tut::run(lesson006::deposit_concurrently({}, true, 10ms)),
                  std::invalid_argument);
}

TEST_CASE("lock() on a free mutex takes it at once without suspending") {
  run_within([]() -> asio::awaitable<void> {
    Mutex mutex(co_await asio::this_coro::executor);
    bool other_task_ran = false;
    asio::post(mutex.get_executor(), [&] { other_task_ran = true; });
    {
      auto guard = co_await mutex.lock();
      CHECK(guard.owns_lock());
      CHECK(mutex.locked());
      CHECK_FALSE(other_task_ran);  // no turn of the loop happened: like asyncio's fast path
    }
    CHECK_FALSE(mutex.locked());  // the guard unlocked it
    co_await yield_once();
    CHECK(other_task_ran);
  }());
}

TEST_CASE("try_lock and locked report the state and unlocking a free mutex throws") {
  run_within([]() -> asio::awaitable<void> {
    Mutex mutex(co_await asio::this_coro::executor);
    CHECK_FALSE(mutex.locked());
    CHECK_THROWS_AS(mutex.unlock(), std::logic_error);  // asyncio: RuntimeError
    CHECK(mutex.try_lock());
    CHECK(mutex.locked());
    CHECK_FALSE(mutex.try_lock());
    mutex.unlock();
    CHECK_FALSE(mutex.locked());
    CHECK_THROWS_AS(mutex.unlock(), std::logic_error);

    LockGuard guard = co_await mutex.lock();
    LockGuard moved = std::move(guard);  // ownership moves; only `moved` unlocks
    CHECK_FALSE(guard.owns_lock());
    CHECK(moved.owns_lock());
    CHECK_THROWS_AS(guard.unlock(), std::logic_error);
    moved.unlock();
    CHECK_FALSE(mutex.locked());
    CHECK_THROWS_AS(moved.unlock(), std::logic_error);
  }());
}

TEST_CASE("waiters get the lock first come first served") {
  auto granted = run_within([]() -> asio::awaitable<std::vector<int>> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);
    std::vector<int> order;
    std::vector<WaiterLog> logs(5);
    auto holder = co_await mutex.lock();
    for (int id = 0; id < 5; ++id) {
      asio::co_spawn(executor, waiter(&mutex, &order, id, &logs[id]), tut::rethrow);
      co_await yield_once();  // let it start and queue up
    }
    CHECK(order.empty());
    holder.unlock();
    while (order.size() < 5) co_await tut::sleep(1ms);
    co_await yield_once();
    CHECK_FALSE(mutex.locked());
    co_return order;
  }());
  CHECK(granted == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("unlock() wakes the next waiter but does not run it inside its own call") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);
    WaiterLog log;
    auto holder = co_await mutex.lock();
    asio::co_spawn(executor, waiter(&mutex, nullptr, 1, &log), tut::rethrow);
    co_await yield_once();
    holder.unlock();
    CHECK_FALSE(log.got_lock);   // only scheduled...
    CHECK_FALSE(mutex.locked());  // ...and it takes the lock when it actually resumes,
    CHECK_FALSE(mutex.try_lock());  // so nobody can jump the queue in between
    co_await yield_once();
    CHECK(log.got_lock);  // it ran on the next turn of the loop
    CHECK(mutex.locked());
    while (mutex.locked()) co_await yield_once();  // the waiter is done with the mutex
  }());
}

TEST_CASE("a waiter cancelled through its slot leaves the queue and the lock goes on") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);
    std::vector<int> order;
    WaiterLog first, second;
    asio::cancellation_signal cancel_first;
    auto holder = co_await mutex.lock();
    asio::co_spawn(executor, waiter(&mutex, &order, 1, &first),
                   asio::bind_cancellation_slot(cancel_first.slot(), tut::rethrow));
    asio::co_spawn(executor, waiter(&mutex, &order, 2, &second), tut::rethrow);
    co_await yield_once();

    cancel_first.emit(asio::cancellation_type::terminal);
    co_await yield_once();
    CHECK(first.aborted);
    CHECK_FALSE(first.got_lock);
    CHECK(mutex.locked());  // still ours: the cancellation did not unlock anything

    holder.unlock();
    while (!second.got_lock) co_await yield_once();
    co_await yield_once();
    CHECK(order == std::vector<int>{2});
    CHECK_FALSE(mutex.locked());
    CHECK(mutex.try_lock());  // nothing leaked: the queue is empty and the mutex free
    mutex.unlock();
  }());
}

TEST_CASE("a waiter that loses an || race against a timer leaves the queue") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);
    auto holder = co_await mutex.lock();
    asio::steady_timer timeout(executor, 20ms);
    auto race = mutex.lock() || timeout.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);  // the timer won; the lock() was cancelled
    CHECK(mutex.locked());       // still held by `holder` only
    holder.unlock();
    CHECK(mutex.try_lock());     // the cancelled waiter is gone: nobody is queued
    mutex.unlock();
  }());
}

TEST_CASE("a waiter granted the lock and cancelled in the same handler passes it on") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Mutex mutex(executor);
    std::vector<int> order;
    WaiterLog first, second;
    asio::cancellation_signal cancel_first;
    auto holder = co_await mutex.lock();
    asio::co_spawn(executor, waiter(&mutex, &order, 1, &first),
                   asio::bind_cancellation_slot(cancel_first.slot(), tut::rethrow));
    asio::co_spawn(executor, waiter(&mutex, &order, 2, &second), tut::rethrow);
    co_await yield_once();

    holder.unlock();                                       // wakes `first`...
    cancel_first.emit(asio::cancellation_type::terminal);  // ...cancelled before it runs
    while (!second.got_lock) co_await yield_once();
    CHECK(first.aborted);  // as asyncio: the cancellation wins over the wake-up
    CHECK_FALSE(first.got_lock);
    CHECK(order == std::vector<int>{2});  // and the lock went on to the next waiter
    co_await yield_once();
    CHECK_FALSE(mutex.locked());
  }());
}

TEST_CASE("async_lock works with any token and any cancellation type") {
  asio::io_context context;
  Mutex mutex(context.get_executor());
  REQUIRE(mutex.try_lock());
  std::error_code partial_result, total_result, granted_result = asio::error::eof;
  asio::cancellation_signal partial, total;
  mutex.async_lock(asio::bind_cancellation_slot(
      partial.slot(), [&](std::error_code error) { partial_result = error; }));
  mutex.async_lock(asio::bind_cancellation_slot(
      total.slot(), [&](std::error_code error) { total_result = error; }));
  bool called = false;
  mutex.async_lock([&](std::error_code error) {
    called = true;
    granted_result = error;
    mutex.unlock();  // a plain handler owns the lock on success
  });
  partial.emit(asio::cancellation_type::partial);
  total.emit(asio::cancellation_type::total);
  mutex.unlock();
  CHECK_FALSE(called);  // completions always go through the io_context
  context.run();
  CHECK(partial_result == asio::error::operation_aborted);
  CHECK(total_result == asio::error::operation_aborted);
  CHECK(called);
  CHECK_FALSE(granted_result);
  CHECK_FALSE(mutex.locked());
}

TEST_CASE("on a strand over two threads the mutex works but the strand alone does not") {
  // A strand serialises handlers, but a check-then-act spanning a co_await is two handlers.
  asio::io_context context(2);
  auto strand = asio::make_strand(context);
  std::vector<std::string> names(8, "task");
  auto with_lock = asio::co_spawn(
      strand, lesson006::deposit_concurrently(names, true, 20ms), asio::use_future);
  auto without_lock = asio::co_spawn(
      strand, lesson006::deposit_concurrently(names, false, 20ms), asio::use_future);
  std::thread helper([&] { context.run_for(10s); });
  context.run_for(10s);
  helper.join();
  REQUIRE(with_lock.wait_for(0s) == std::future_status::ready);
  REQUIRE(without_lock.wait_for(0s) == std::future_status::ready);
  CHECK(with_lock.get() == 8);
  CHECK(without_lock.get() < 8);
}

// ---- the steady_timer rule: destroying the mutex, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

// Holds the lock, then asks for it again: waits until the io_context is destroyed.
asio::awaitable<void> lock_twice(std::shared_ptr<Mutex> mutex, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  auto held = co_await mutex->lock();
  [[maybe_unused]] auto never = co_await mutex->lock();
}

asio::awaitable<void> lock_twice_raw(Mutex* mutex, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  auto held = co_await mutex->lock();
  [[maybe_unused]] auto never = co_await mutex->lock();
}

}  // namespace

TEST_CASE("a mutex destroyed after unlock() but before the woken waiter ran aborts that wait") {
  run_within([]() -> asio::awaitable<void> {
    auto mutex = std::make_unique<Mutex>(co_await asio::this_coro::executor);
    auto guard = co_await mutex->lock();
    std::optional<std::error_code> result;
    mutex->async_lock([&result](std::error_code error) { result = error; });
    guard.unlock();  // wakes the waiter: its completion is posted, not run
    mutex.reset();   // the posted wake-up must not reach the destroyed mutex
    while (!result) co_await yield_once();
    CHECK(*result == asio::error::operation_aborted);  // it owns no lock of a dead mutex
  }());
}

TEST_CASE("destroying the io_context while a task waits for a mutex destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    auto task = lock_twice(std::make_shared<Mutex>(context.get_executor()), &destroyed);
    asio::co_spawn(context, std::move(task), tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}

TEST_CASE("a mutex that outlives its io_context lets it destroy a waiting task's frame") {
  bool destroyed = false;
  std::optional<Mutex> mutex;
  {
    asio::io_context context;
    mutex.emplace(context.get_executor());
    asio::co_spawn(context, lock_twice_raw(&*mutex, &destroyed), tut::rethrow);
    context.poll();
    REQUIRE_FALSE(destroyed);
  }
  CHECK(destroyed);
  CHECK_FALSE(mutex->locked());  // the frame's guard unlocked it
}  // ~Mutex after the io_context: it must not touch the destroyed context
