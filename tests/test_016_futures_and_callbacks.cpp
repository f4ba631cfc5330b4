#include "futures.hpp"
#include "legacy.hpp"

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson016::Style;

TEST_CASE("every completion style reports a timer that fired as success") {
  for (auto style : lesson016::all_styles) {
    INFO("style " << lesson016::name(style));
    auto start = tut::clock::now();
    auto outcome = lesson016::wait_in_style(style, 30ms);
    CHECK_FALSE(outcome.error);
    CHECK(tut::clock::now() - start >= 30ms);
    CHECK_FALSE(outcome.how.empty());
  }
}

TEST_CASE("every completion style reports a cancelled timer as operation_aborted") {
  for (auto style : lesson016::all_styles) {
    INFO("style " << lesson016::name(style));
    auto start = tut::clock::now();
    auto outcome = lesson016::wait_in_style(style, 10s, 10ms);
    CHECK(outcome.error == asio::error::operation_aborted);
    CHECK(tut::clock::now() - start < 5s);  // ended by the cancel, not by the 10 s timer
  }
}

TEST_CASE("the error arrives as an exception or as a value depending on the token") {
  auto how = [](Style style) { return lesson016::wait_in_style(style, 10s, 1ms).how; };
  CHECK_THAT(how(Style::use_future), tut::test::ContainsSubstring("threw system_error"));
  CHECK_THAT(how(Style::use_awaitable), tut::test::ContainsSubstring("threw system_error"));
  CHECK_THAT(how(Style::promise), tut::test::ContainsSubstring("threw system_error"));
  CHECK_THAT(how(Style::as_tuple), tut::test::ContainsSubstring("tuple"));
  CHECK_THAT(how(Style::redirect_error), tut::test::ContainsSubstring("redirected"));
}

TEST_CASE("a deferred operation starts only when it is called with a token") {
  asio::io_context io;
  asio::steady_timer timer(io, 10s);
  auto wait = timer.async_wait(compat::deferred);
  CHECK(timer.cancel() == 0);  // nothing to cancel: the wait has not started
  std::error_code result;
  std::move(wait)([&](std::error_code error) { result = error; });
  CHECK(timer.cancel() == 1);  // now it has
  io.run();
  CHECK(result == asio::error::operation_aborted);
}

TEST_CASE("an experimental promise starts its operation at once") {
  auto elapsed = tut::test::run_within([]() -> asio::awaitable<tut::clock::duration> {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, 50ms);
    auto start = tut::clock::now();
    auto promise = timer.async_wait(asio::experimental::use_promise);  // the 50 ms start now
    asio::steady_timer other(executor, 50ms);
    co_await other.async_wait(asio::use_awaitable);  // meanwhile, something else
    bool done_meanwhile = compat::is_completed(promise);  // it ran while we did that
    CHECK(done_meanwhile);
    co_await compat::wait_for(promise, asio::use_awaitable);
    co_return tut::clock::now() - start;
  }());
  CHECK(elapsed >= 50ms);
}

TEST_CASE("async_lookup gives the same answer with a callback, use_future and use_awaitable") {
  lesson016::LegacyDirectory directory(10ms);
  auto answers = lesson016::lookup_three_ways(directory, "answer");
  using lesson016::Answer;
  // In this order: each run() waited for its own answer (the work guard in async_lookup).
  CHECK(answers == std::vector<Answer>{{"callback", {}, 42},
                                       {"use_future", {}, 42},
                                       {"use_awaitable", {}, 42}});
  answers = lesson016::lookup_three_ways(directory, "port");
  CHECK(answers == std::vector<Answer>{{"callback", {}, 8080},
                                       {"use_future", {}, 8080},
                                       {"use_awaitable", {}, 8080}});
}

TEST_CASE("async_lookup reports an unknown name as ENOENT with every token") {
  lesson016::LegacyDirectory directory(1ms);
  auto answers = lesson016::lookup_three_ways(directory, "nobody");
  REQUIRE(answers.size() == 3);
  for (auto& answer : answers) CHECK(answer.error == std::errc::no_such_file_or_directory);

  auto tuple = tut::test::run_within([](lesson016::LegacyDirectory* dir) -> asio::awaitable<int> {
    auto executor = co_await asio::this_coro::executor;
    auto token = compat::as_tuple(asio::use_awaitable);
    auto [error, value] = co_await lesson016::async_lookup(executor, *dir, "nobody", token);
    CHECK(error == std::errc::no_such_file_or_directory);
    co_return value;
  }(&directory));
  CHECK(tuple == 0);
}

TEST_CASE("async_lookup runs the handler on the loop thread, never on the library's") {
  lesson016::LegacyDirectory directory(1ms);
  asio::io_context io;
  std::thread::id handler_thread;
  int value = 0;
  lesson016::async_lookup(io.get_executor(), directory, "answer", [&](std::error_code, int v) {
    handler_thread = std::this_thread::get_id();
    value = v;
  });
  io.run();  // returns only after the handler ran: the pending lookup counted as work
  CHECK(value == 42);
  CHECK(handler_thread == std::this_thread::get_id());
}

TEST_CASE("async_lookup destroys the handler on the loop thread, right after it ran") {
  // legacy.hpp moves it out of the shared_ptr that the library's std::function also holds:
  // left there, it would die with whichever copy goes last, on the library's thread if the
  // library keeps its std::function after the call (this LegacyDirectory drops it at once).
  struct Probe {
    explicit Probe(std::atomic<std::thread::id>* where) : destroyed_on(where) {}
    ~Probe() { *destroyed_on = std::this_thread::get_id(); }
    std::atomic<std::thread::id>* destroyed_on;
  };
  lesson016::LegacyDirectory directory(1ms);
  asio::io_context io;
  std::atomic<std::thread::id> destroyed_on{};
  auto probe = std::make_shared<Probe>(&destroyed_on);
  lesson016::async_lookup(io.get_executor(), directory, "answer",
                          [probe = std::move(probe)](std::error_code, int) {});
  io.run();
  CHECK(destroyed_on.load() == std::this_thread::get_id());
}

TEST_CASE("async_lookup works with the deferred token too") {
  lesson016::LegacyDirectory directory(1ms);
  auto values = tut::test::run_within([](lesson016::LegacyDirectory* dir)
                                          -> asio::awaitable<std::vector<int>> {
    auto executor = co_await asio::this_coro::executor;
    auto first = lesson016::async_lookup(executor, *dir, "answer", compat::deferred);
    auto second = lesson016::async_lookup(executor, *dir, "port", compat::deferred);
    std::vector<int> got;
    got.push_back(co_await std::move(first)(asio::use_awaitable));
    got.push_back(co_await std::move(second)(asio::use_awaitable));
    co_return got;
  }(&directory));
  CHECK(values == std::vector<int>{42, 8080});
}

TEST_CASE("blocking on a future inside the loop times out instead of completing") {
  auto start = tut::clock::now();
  CHECK(lesson016::block_inside_loop(10ms, 50ms) == std::future_status::timeout);
  CHECK(tut::clock::now() - start >= 50ms);  // it really waited, and the 10 ms timer never fired
}
