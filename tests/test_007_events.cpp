#include <memory>
#include <optional>
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

#include "async_event.hpp"
#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson007::Event;
using tut::test::run_within;

namespace {

using tut::test::yield_once;

enum class WaitEnd { pending, returned, aborted };

struct Waited {
  WaitEnd outcome = WaitEnd::pending;
  bool flag_when_resumed = false;  // is_set() at the moment the waiter ran again
};

asio::awaitable<void> waiter(std::shared_ptr<Event> event, Waited* result) {
  try {
    co_await event->wait();
    result->flag_when_resumed = event->is_set();
    result->outcome = WaitEnd::returned;
  } catch (const std::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
    result->outcome = WaitEnd::aborted;
  }
}

}  // namespace

TEST_CASE("set wakes every current waiter but runs none of them inside set") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto event = std::make_shared<Event>(executor);
    std::vector<Waited> results(3);
    for (auto& result : results) asio::co_spawn(executor, waiter(event, &result), tut::rethrow);
    co_await yield_once();
    CHECK(event->waiting() == 3);
    CHECK_FALSE(event->is_set());

    event->set();
    CHECK(event->is_set());
    CHECK(event->waiting() == 0);  // all woken...
    for (auto& result : results) CHECK(result.outcome == WaitEnd::pending);  // ...none ran
    co_await yield_once();  // their completions were posted before ours: they ran first
    for (auto& result : results) CHECK(result.outcome == WaitEnd::returned);
  }());
}

TEST_CASE("wait on a set event returns at once without suspending") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Event event(executor);
    event.set();
    event.set();  // setting a set event changes nothing
    bool posted_ran = false;
    asio::post(executor, [&] { posted_ran = true; });
    co_await event.wait();
    CHECK_FALSE(posted_ran);  // no turn of the loop happened, as in asyncio
    co_await yield_once();
    CHECK(posted_ran);
  }());
}

TEST_CASE("clear makes later waiters wait until the next set") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto event = std::make_shared<Event>(executor);
    event->set();
    event->clear();
    CHECK_FALSE(event->is_set());
    Waited late;
    asio::co_spawn(executor, waiter(event, &late), tut::rethrow);
    asio::steady_timer pause(executor, 20ms);
    co_await pause.async_wait(asio::use_awaitable);
    CHECK(late.outcome == WaitEnd::pending);  // cleared: it really waits
    event->set();
    co_await yield_once();
    CHECK(late.outcome == WaitEnd::returned);
  }());
}

TEST_CASE("waiters woken by set still return when clear is called before they run") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto event = std::make_shared<Event>(executor);
    std::vector<Waited> results(3);
    for (auto& result : results) asio::co_spawn(executor, waiter(event, &result), tut::rethrow);
    co_await yield_once();
    event->set();
    event->clear();  // in the same handler: none of the waiters has run yet
    co_await yield_once();
    for (auto& result : results) {
      CHECK(result.outcome == WaitEnd::returned);  // asyncio: wait() returns True
      CHECK_FALSE(result.flag_when_resumed);       // although the flag is down again
    }
  }());
}

TEST_CASE("a waiter cancelled through its slot leaves the queue and the others still wake") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto event = std::make_shared<Event>(executor);
    Waited cancelled, other;
    asio::cancellation_signal cancel;
    asio::co_spawn(executor, waiter(event, &cancelled),
                   asio::bind_cancellation_slot(cancel.slot(), tut::rethrow));
    asio::co_spawn(executor, waiter(event, &other), tut::rethrow);
    co_await yield_once();
    REQUIRE(event->waiting() == 2);

    cancel.emit(asio::cancellation_type::terminal);
    CHECK(event->waiting() == 1);
    co_await yield_once();
    CHECK(cancelled.outcome == WaitEnd::aborted);
    CHECK(other.outcome == WaitEnd::pending);

    event->set();
    co_await yield_once();
    CHECK(other.outcome == WaitEnd::returned);
    CHECK(event->waiting() == 0);
  }());
}

TEST_CASE("a waiter that loses an || race against a timer leaves the queue") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Event event(executor);
    asio::steady_timer timeout(executor, 20ms);
    auto race = event.wait() || timeout.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);
    CHECK(event.waiting() == 0);  // nothing left behind for a later set() to wake
    event.set();
    co_await event.wait();
  }());
}

TEST_CASE("a waiter cancelled after set woke it but before it ran is cancelled") {
  // asyncio: the task's cancel() lands before it runs, so `await fut` raises CancelledError.
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto event = std::make_shared<Event>(executor);
    Waited cancelled, other;
    asio::cancellation_signal cancel;
    asio::co_spawn(executor, waiter(event, &cancelled),
                   asio::bind_cancellation_slot(cancel.slot(), tut::rethrow));
    asio::co_spawn(executor, waiter(event, &other), tut::rethrow);
    co_await yield_once();
    event->set();
    cancel.emit(asio::cancellation_type::terminal);
    co_await yield_once();
    CHECK(cancelled.outcome == WaitEnd::aborted);
    CHECK(other.outcome == WaitEnd::returned);  // the other waiter is unaffected
  }());
}

TEST_CASE("async_wait completes through the executor even when the event is set") {
  asio::io_context context;
  Event event(context.get_executor());
  std::error_code before_set = asio::error::eof, after_set = asio::error::eof, cancelled;
  asio::cancellation_signal cancel;
  event.async_wait([&](std::error_code error) { before_set = error; });
  event.async_wait(asio::bind_cancellation_slot(cancel.slot(),
                                                [&](std::error_code error) { cancelled = error; }));
  cancel.emit(asio::cancellation_type::partial);  // any cancellation type is honoured
  event.set();
  event.async_wait([&](std::error_code error) { after_set = error; });
  CHECK(before_set == asio::error::eof);  // not called inside set() or async_wait()
  CHECK(after_set == asio::error::eof);
  context.run();
  CHECK_FALSE(before_set);
  CHECK_FALSE(after_set);
  CHECK(cancelled == asio::error::operation_aborted);
}

// ---- the steady_timer rule: destroying the event, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

asio::awaitable<void> wait_unset(std::shared_ptr<Event> event, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  co_await event->wait();  // nobody sets it: waits until the io_context is destroyed
}

}  // namespace

TEST_CASE("an event destroyed after set() but before the woken waiter ran aborts that wait") {
  run_within([]() -> asio::awaitable<void> {
    auto event = std::make_unique<Event>(co_await asio::this_coro::executor);
    std::optional<std::error_code> result;
    event->async_wait([&result](std::error_code error) { result = error; });
    event->set();    // wakes the waiter: its completion is posted, not run
    event.reset();   // the posted wake-up must not reach the destroyed event
    while (!result) co_await yield_once();
    CHECK(*result == asio::error::operation_aborted);
  }());
}

TEST_CASE("destroying the io_context while a task waits for an event destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    auto task = wait_unset(std::make_shared<Event>(context.get_executor()), &destroyed);
    asio::co_spawn(context, std::move(task), tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}
