#include "resources.hpp"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace lesson021;
using tut::test::run_within;
using Events = std::vector<std::string>;

namespace {

// A fresh leak counter and journal with short steps. Every test checks `open == 0` at its end.
std::shared_ptr<Tracker> make_tracker() {
  tut::set_logging(false);
  auto tracker = std::make_shared<Tracker>();
  tracker->delay = 10ms;
  return tracker;
}

bool has(const Tracker& tracker, const std::string& event) {
  return std::find(tracker.events.begin(), tracker.events.end(), event) != tracker.events.end();
}

// Polls `condition` every millisecond: orders a test step after a state change of the code
// under test, whatever the machine's speed.
asio::awaitable<void> wait_until(std::function<bool()> condition) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  while (!condition()) {
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// A task with a Task.cancel(): co_spawned with a cancellation signal of its own.
struct Spawned {
  asio::cancellation_signal signal;
  bool done = false;
  std::exception_ptr error;
  void cancel() { signal.emit(asio::cancellation_type::terminal); }
};

template <typename T>
std::shared_ptr<Spawned> spawn(asio::any_io_executor executor, asio::awaitable<T> work) {
  auto spawned = std::make_shared<Spawned>();
  asio::co_spawn(executor, std::move(work),
                 asio::bind_cancellation_slot(spawned->signal.slot(),
                                              [spawned](std::exception_ptr error, auto...) {
                                                spawned->done = true;
                                                spawned->error = error;
                                              }));
  return spawned;
}

}  // namespace

// ----------------------------------------------------------------------------- async with

TEST_CASE("async with: a body that returns is closed after it, once") {
  auto tracker = make_tracker();
  auto value = run_within(use_resource("a", Ending::returns, tracker));
  CHECK(value == "used a");
  CHECK(tracker->events == Events{"a open", "a closing (none propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: a body that throws is closed, the exit sees the error, it propagates") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(use_resource("a", Ending::throws, tracker)), "body failed");
  CHECK(tracker->events ==
        Events{"a open", "a closing (error: body failed propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: an opener that fails closes nothing and the body never runs") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(use_resource("a", Ending::returns, tracker, Fault::opening)),
                      "opening a failed");
  CHECK(tracker->events.empty());
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: a cancelled body still awaits its whole cleanup, then ends cancelled") {
  auto tracker = make_tracker();
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto task = spawn(executor, use_resource("c", Ending::waits, shared));
    auto opened = wait_until([shared] { return has(*shared, "c open"); });  // now in its 1 h wait
    co_await std::move(opened);
    task->cancel();
    auto finished = wait_until([task] { return task->done; });
    co_await std::move(finished);
    CHECK(tut::is_cancellation(task->error));  // the cancellation is still reported
  }(tracker));
  // "c closed" without ", goodbye interrupted": the cleanup's own await completed.
  CHECK(tracker->events == Events{"c open", "c closing (cancelled propagating)", "c closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: a second cancel interrupts the awaiting cleanup, which still releases") {
  auto tracker = make_tracker();
  // A goodbye long enough that the second cancel lands inside it even if this process is
  // not scheduled for a while (the poll and the goodbye's timer would then expire together).
  tracker->delay = 300ms;
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto task = spawn(executor, use_resource("c", Ending::waits, shared));
    auto opened = wait_until([shared] { return has(*shared, "c open"); });
    co_await std::move(opened);
    task->cancel();
    auto closing =
        wait_until([shared] { return has(*shared, "c closing (cancelled propagating)"); });
    co_await std::move(closing);
    task->cancel();  // asyncio: a second Task.cancel() interrupts the await in __aexit__
    auto finished = wait_until([task] { return task->done; });
    co_await std::move(finished);
    CHECK(tut::is_cancellation(task->error));
  }(tracker));
  CHECK(tracker->events ==
        Events{"c open", "c closing (cancelled propagating)", "c closed, goodbye interrupted"});
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: after a cancelled scope the request stays recorded for the next await") {
  auto tracker = make_tracker();
  auto after = std::make_shared<std::string>();
  run_within([](std::shared_ptr<Tracker> shared,
                std::shared_ptr<std::string> seen) -> asio::awaitable<void> {
    // A coroutine that swallows the scope's cancellation and awaits again.
    auto swallower = [](std::shared_ptr<Tracker> t,
                        std::shared_ptr<std::string> out) -> asio::awaitable<void> {
      try {
        auto work = use_resource("c", Ending::waits, t);
        co_await std::move(work);
      } catch (const std::system_error&) {
      }
      try {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor, 10ms);
        co_await timer.async_wait(asio::use_awaitable);
        *out = "slept";
      } catch (...) {
        *out = describe(std::current_exception());
      }
    };
    auto executor = co_await asio::this_coro::executor;
    auto task = spawn(executor, swallower(shared, seen));
    auto opened = wait_until([shared] { return has(*shared, "c open"); });
    co_await std::move(opened);
    task->cancel();
    auto finished = wait_until([task] { return task->done; });
    co_await std::move(finished);
  }(tracker, after));
  // with_exit_stack put the check back on: the next co_await throws, as after any cancel.
  CHECK(*after == "cancelled");
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: a cleanup that fails reports its error after a body that returned") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(use_resource("d", Ending::returns, tracker, Fault::closing)),
                      "closing d failed");
  CHECK(tracker->events == Events{"d open", "d closing (none propagating)", "d closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("async with: a cleanup that fails replaces the body's error (no __context__ in C++)") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(use_resource("d", Ending::throws, tracker, Fault::closing)),
                      "closing d failed");
  CHECK(tracker->events ==
        Events{"d open", "d closing (error: body failed propagating)", "d closed"});
  CHECK(tracker->open == 0);
}

// ----------------------------------------------------------------------------- exit stack

TEST_CASE("exit stack: opened in order, closed in reverse") {
  auto tracker = make_tracker();
  std::vector<Spec> specs{{"a"}, {"b"}, {"c"}};
  CHECK(run_within(open_all(specs, tracker)) == 3);
  CHECK(tracker->events == Events{"a open", "b open", "c open",                           //
                                  "c closing (none propagating)", "c closed",             //
                                  "b closing (none propagating)", "b closed",             //
                                  "a closing (none propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("exit stack: a failure opening the third closes the first two, in reverse") {
  auto tracker = make_tracker();
  std::vector<Spec> specs{{"a"}, {"b"}, {"c", Fault::opening}};
  REQUIRE_THROWS_WITH(run_within(open_all(specs, tracker)), "opening c failed");
  CHECK(tracker->events == Events{"a open", "b open",                                    //
                                  "b closing (error: opening c failed propagating)",     //
                                  "b closed",                                            //
                                  "a closing (error: opening c failed propagating)",     //
                                  "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("exit stack: a failing exit replaces the error, and the earlier ones still run") {
  auto tracker = make_tracker();
  std::vector<Spec> specs{{"a"}, {"b", Fault::closing}, {"c", Fault::closing}};
  // c's close fails first; b sees c's error and fails too; a sees b's. The last one wins,
  // as in CPython (which chains the others as __context__).
  REQUIRE_THROWS_WITH(run_within(open_all(specs, tracker)), "closing b failed");
  CHECK(tracker->events == Events{"a open", "b open", "c open",                          //
                                  "c closing (none propagating)", "c closed",            //
                                  "b closing (error: closing c failed propagating)",     //
                                  "b closed",                                            //
                                  "a closing (error: closing b failed propagating)",     //
                                  "a closed"});
  CHECK(tracker->open == 0);
}

namespace {
asio::awaitable<bool> suppressing_exit(std::shared_ptr<Tracker> tracker,
                                       std::exception_ptr error) {
  tracker->events.push_back("suppressing " + describe(error));
  co_return true;
}
asio::awaitable<void> noting_callback(std::shared_ptr<Tracker> tracker, std::string note) {
  tracker->events.push_back(note);
  co_return;
}
}  // namespace

TEST_CASE("exit stack: an exit that returns true suppresses the error for the exits after it") {
  auto tracker = make_tracker();
  auto value = run_within(with_exit_stack(
      [tracker](AsyncExitStack& stack) -> asio::awaitable<int> {
        auto opener = open_resource("a", tracker);
        co_await stack.enter_async_context(std::move(opener));
        stack.push_async_callback([tracker] { return noting_callback(tracker, "callback"); });
        stack.push_async_exit(
            [tracker](std::exception_ptr error) { return suppressing_exit(tracker, error); });
        throw std::runtime_error("body failed");
      }));
  CHECK(value == 0);  // suppressed, and no value: R{}
  CHECK(tracker->events == Events{"a open", "suppressing error: body failed", "callback",
                                  "a closing (none propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("exit stack: pop_all() hands the resources to another stack, which closes them") {
  auto tracker = make_tracker();
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto open_two = [shared](AsyncExitStack& stack) -> asio::awaitable<AsyncExitStack> {
      auto a = open_resource("a", shared);
      co_await stack.enter_async_context(std::move(a));
      auto b = open_resource("b", shared);
      co_await stack.enter_async_context(std::move(b));
      co_return stack.pop_all();  // all opened: keep them beyond this scope
    };
    auto work = with_exit_stack(std::move(open_two));
    auto opened = co_await std::move(work);
    CHECK(shared->open == 2);
    CHECK(opened.size() == 2);
    co_await opened.aclose();
    CHECK(opened.size() == 0);
    co_await opened.aclose();  // closing an empty stack does nothing
  }(tracker));
  CHECK(tracker->events == Events{"a open", "b open", "b closing (none propagating)", "b closed",
                                  "a closing (none propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

namespace {
asio::awaitable<void> open_two_then_aclose(std::shared_ptr<Tracker> tracker) {
  AsyncExitStack stack;
  auto a = open_resource("a", tracker);
  co_await stack.enter_async_context(std::move(a));
  auto b = open_resource("b", tracker, Fault::closing);
  co_await stack.enter_async_context(std::move(b));
  co_await stack.aclose();
}
}  // namespace

TEST_CASE("exit stack: aclose() rethrows an exit's failure after running all of them") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(open_two_then_aclose(tracker)), "closing b failed");
  CHECK(tracker->events == Events{"a open", "b open", "b closing (none propagating)", "b closed",
                                  "a closing (error: closing b failed propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

TEST_CASE("exit stack: cancelled during aclose(), the remaining exits still run and await") {
  auto tracker = make_tracker();
  tracker->delay = 300ms;  // a goodbye long enough to be cancelled inside it (see above)
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto task = spawn(executor, open_two_then_aclose(shared));
    auto closing = wait_until([shared] { return has(*shared, "b closing (none propagating)"); });
    co_await std::move(closing);
    task->cancel();  // b's goodbye is interrupted; a must still be closed, in full
    auto finished = wait_until([task] { return task->done; });
    co_await std::move(finished);
    CHECK(tut::is_cancellation(task->error));
  }(tracker));
  CHECK(tracker->events == Events{"a open", "b open", "b closing (none propagating)",
                                  "b closed, goodbye interrupted",
                                  "a closing (cancelled propagating)", "a closed"});
  CHECK(tracker->open == 0);
}

// ----------------------------------------------------------------------------- generator

TEST_CASE("generator: each value is produced only when the consumer asks for it") {
  auto tracker = make_tracker();
  auto values = run_within(take_lazily(Count{3}, tracker));
  CHECK(values == std::vector<int>{1, 2, 3});
  CHECK(tracker->events == Events{"generator yield 1", "consumer got 1",  //
                                  "generator yield 2", "consumer got 2",  //
                                  "generator yield 3", "consumer got 3",  //
                                  "generator frame destroyed: guard released"});
  CHECK(tracker->open == 0);
}

TEST_CASE("generator: break destroys it at once, releasing what it holds") {
  auto tracker = make_tracker();
  auto values = run_within(take_lazily(Count{5, 2}, tracker));
  CHECK(values == std::vector<int>{1, 2});
  CHECK(tracker->events == Events{"generator yield 1", "consumer got 1",  //
                                  "generator yield 2", "consumer got 2",  //
                                  "generator frame destroyed: guard released"});
  CHECK(tracker->open == 0);
}

TEST_CASE("generator: an exception inside it reaches the consumer") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(take_lazily(Count{3, 0, 2}, tracker)), "generator failed at 2");
  CHECK(tracker->events == Events{"generator yield 1", "consumer got 1",
                                  "generator frame destroyed: guard released"});
  CHECK(tracker->open == 0);
}

// ----------------------------------------------------------------------------- stream

namespace {
// The largest number of values sent and not yet taken, over the whole run.
long most_ahead(const Tracker& tracker) {
  long sent = 0, got = 0, most = 0;
  for (const auto& event : tracker.events) {
    if (event.rfind("producer sent ", 0) == 0) ++sent;
    if (event.rfind("consumer got ", 0) == 0) ++got;
    most = std::max(most, sent - got);
  }
  return most;
}
}  // namespace

TEST_CASE("stream: every value in order, and the producer's resource is closed") {
  auto tracker = make_tracker();
  auto values = run_within(take_from_stream(2, Count{5}, tracker));
  CHECK(values == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(has(*tracker, "source closing (none propagating)"));
  CHECK(tracker->open == 0);
}

TEST_CASE("stream: back-pressure keeps the producer at most capacity + 1 values ahead") {
  for (std::size_t capacity : {1, 3}) {
    auto tracker = make_tracker();
    auto values = run_within(take_from_stream(capacity, Count{8}, tracker));
    CHECK(values.size() == 8);
    // capacity in the channel, plus one handed to the consumer and not yet logged as got.
    // Without the bound the producer, which never sleeps, would be 7 ahead.
    CHECK(most_ahead(*tracker) <= static_cast<long>(capacity) + 1);
    CHECK(most_ahead(*tracker) >= static_cast<long>(capacity));
    CHECK(tracker->open == 0);
  }
}

TEST_CASE("stream: break, then aclose() cancels the producer and awaits its cleanup") {
  auto tracker = make_tracker();
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto work = take_from_stream(1, Count{50, 2}, shared);
    auto values = co_await std::move(work);
    CHECK(values == std::vector<int>{1, 2});
    // Checked before run_within returns: aclose() waited for the producer's cleanup.
    CHECK(has(*shared, "source closing (cancelled propagating)"));
    CHECK(has(*shared, "source closed"));
    CHECK(shared->open == 0);
  }(tracker));
  CHECK_FALSE(has(*tracker, "producer sent 50"));
}

TEST_CASE("stream: the producer's exception reaches the consumer after the values before it") {
  auto tracker = make_tracker();
  REQUIRE_THROWS_WITH(run_within(take_from_stream(2, Count{5, 0, 3}, tracker)),
                      "producer failed at 3");
  CHECK(has(*tracker, "consumer got 1"));
  CHECK(has(*tracker, "consumer got 2"));
  CHECK(has(*tracker, "source closing (error: producer failed at 3 propagating)"));
  CHECK(tracker->open == 0);
}

TEST_CASE("stream: a cancelled consumer still closes the stream, and the producer cleans up") {
  auto tracker = make_tracker();
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto task = spawn(executor, take_from_stream(1, Count{50}, shared));
    auto got_one = wait_until([shared] { return has(*shared, "consumer got 1"); });
    co_await std::move(got_one);
    task->cancel();
    auto finished = wait_until([task] { return task->done; });
    co_await std::move(finished);
    CHECK(tut::is_cancellation(task->error));
    CHECK(has(*shared, "source closing (cancelled propagating)"));
    CHECK(has(*shared, "source closed"));  // not interrupted: the cleanup awaited in full
    CHECK(shared->open == 0);
  }(tracker));
  CHECK_FALSE(has(*tracker, "producer sent 50"));
}

namespace {
asio::awaitable<void> two_values(std::shared_ptr<Stream::Channel> out) {
  co_await out->async_send(asio::error_code(), 1, asio::use_awaitable);
  co_await out->async_send(asio::error_code(), 2, asio::use_awaitable);
}
}  // namespace

TEST_CASE("stream: after the end, next() keeps returning nullopt and aclose() is harmless") {
  auto values = run_within([]() -> asio::awaitable<std::vector<int>> {
    auto executor = co_await asio::this_coro::executor;
    Stream stream(executor, 4, two_values);
    std::vector<int> got;
    for (int i = 0; i < 4; ++i) {
      auto value = co_await stream.next();
      got.push_back(value ? *value : 0);
    }
    co_await stream.aclose();
    co_await stream.aclose();
    co_return got;
  }());
  CHECK(values == std::vector<int>{1, 2, 0, 0});
}

TEST_CASE("stream: destroyed without aclose(), it cancels the producer, which still cleans up") {
  auto tracker = make_tracker();
  run_within([](std::shared_ptr<Tracker> shared) -> asio::awaitable<void> {
    {
      auto executor = co_await asio::this_coro::executor;
      auto producer = [shared](auto out) { return count_into(out, Count{50}, shared); };
      Stream stream(executor, 1, producer);
      auto first = co_await stream.next();
      CHECK(first == 1);
    }  // forgotten: like an async generator nobody closed
    auto released = wait_until([shared] { return shared->open == 0; });
    co_await std::move(released);
  }(tracker));
  CHECK(has(*tracker, "source closing (cancelled propagating)"));
  CHECK(has(*tracker, "source closed"));
  CHECK(tracker->open == 0);
}

TEST_CASE("describe names no error, a cancellation and an exception") {
  CHECK(describe(nullptr) == "none");
  CHECK(describe(std::make_exception_ptr(
            std::system_error(asio::error::operation_aborted))) == "cancelled");
  CHECK(describe(std::make_exception_ptr(std::runtime_error("x"))) == "error: x");
}
