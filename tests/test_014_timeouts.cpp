#include "timeouts.hpp"

#include <memory>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using Clock = lesson014::clock;
using std::chrono::milliseconds;
using lesson014::Deadline;
using lesson014::LineReader;
using lesson014::sleep;
using lesson014::TimeoutError;
using lesson014::with_timeout;
using tut::test::run_within;

namespace {

asio::awaitable<std::string> answer_after(milliseconds delay, std::string text) {
  co_await sleep(delay);
  co_return text;
}

asio::awaitable<std::string> fail_after(milliseconds delay) {
  co_await sleep(delay);
  throw std::runtime_error("the operation failed");
}

// What an awaited operation ended with, as a word: how the tests look at nested deadlines.
asio::awaitable<std::string> outcome(asio::awaitable<std::string> operation) {
  try {
    co_return co_await std::move(operation);
  } catch (const TimeoutError&) {
    co_return "TimeoutError";
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) co_return "operation_aborted";
    co_return "system_error";
  }
}

// Runs `operation`, writes how it ended into *seen, and passes the outcome on unchanged.
asio::awaitable<std::string> observed(asio::awaitable<std::string> operation, std::string* seen) {
  std::exception_ptr error;
  try {
    co_return co_await std::move(operation);
  } catch (...) {
    error = std::current_exception();
  }
  try {
    std::rethrow_exception(error);
  } catch (const TimeoutError&) {
    *seen = "TimeoutError";
  } catch (const std::system_error& e) {
    *seen = e.code() == asio::error::operation_aborted ? "operation_aborted" : "system_error";
  } catch (...) {
    *seen = "other";
  }
  std::rethrow_exception(error);
}

// An endpoint on 127.0.0.1 that refuses connections: bound, never listening. `holder` keeps
// the port reserved for the test's duration.
tcp::endpoint refusing_endpoint(tcp::socket& holder) {
  holder.open(tcp::v4());
  holder.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return holder.local_endpoint();
}

}  // namespace

TEST_CASE("TimeoutError is a system_error with errc::timed_out, told apart by its type") {
  TimeoutError error;
  CHECK(error.code() == std::errc::timed_out);
  const std::system_error& as_system_error = error;
  CHECK(dynamic_cast<const TimeoutError*>(&as_system_error) != nullptr);
  CHECK(tut::is_cancellation(
      std::make_exception_ptr(std::system_error(asio::error::operation_aborted))));
  CHECK_FALSE(tut::is_cancellation(std::make_exception_ptr(TimeoutError())));
  CHECK_FALSE(tut::is_cancellation(std::make_exception_ptr(std::runtime_error("x"))));
}

TEST_CASE("with_timeout returns the result of an operation that is quick enough") {
  auto text = run_within(with_timeout(answer_after(20ms, "in time"), 2000ms));
  CHECK(text == "in time");
}

TEST_CASE("with_timeout throws TimeoutError when the operation is too slow") {
  auto start = Clock::now();
  CHECK_THROWS_AS(run_within(with_timeout(answer_after(5000ms, "too late"), 20ms), 3s),
                  TimeoutError);
  CHECK(Clock::now() - start >= 20ms);
}

TEST_CASE("with_timeout works for operations without a result") {
  CHECK_NOTHROW(run_within(with_timeout(sleep(10ms), 2000ms)));
  CHECK_THROWS_AS(run_within(with_timeout(sleep(5000ms), 20ms), 3s), TimeoutError);
}

TEST_CASE("the clock of with_timeout starts when it is awaited, not when it is created") {
  auto text = run_within([]() -> asio::awaitable<std::string> {
    auto guarded = with_timeout(answer_after(20ms, "fine"), 100ms);
    auto pause = sleep(150ms);  // longer than the timeout, before awaiting
    co_await std::move(pause);
    auto answer = co_await std::move(guarded);
    co_return answer;
  }());
  CHECK(text == "fine");
}

TEST_CASE("the cancelled operation's cleanup has run when TimeoutError arrives") {
  auto cleaned = run_within([]() -> asio::awaitable<bool> {
    bool cleaned_up = false;
    auto operation = [](bool* flag) -> asio::awaitable<void> {
      struct Cleanup {
        bool* flag;
        ~Cleanup() { *flag = true; }
      } cleanup{flag};
      co_await sleep(5000ms);
    };
    try {
      auto guarded = with_timeout(operation(&cleaned_up), 20ms);
      co_await std::move(guarded);
    } catch (const TimeoutError&) {
      co_return cleaned_up;  // already true: the timeout waited for the cleanup
    }
    co_return false;
  }(), 3s);
  CHECK(cleaned);
}

TEST_CASE("a failing operation ends with_timeout at once with its own error") {
  auto start = Clock::now();
  CHECK_THROWS_WITH(run_within(with_timeout(fail_after(10ms), 5000ms), 3s),
                    "the operation failed");
  CHECK(Clock::now() - start < 3s);  // long before the 5 s timeout (and run_within's 3 s)
}

TEST_CASE("the || trap: a failing operation looks like a timeout, late") {
  auto start = Clock::now();
  auto result = run_within(lesson014::naive_with_timeout(fail_after(10ms), 100ms));
  CHECK_FALSE(result.has_value());    // reported as "timed out"...
  CHECK(Clock::now() - start >= 100ms);  // ...after the whole timeout, the error lost
}

TEST_CASE("a refused connection is a system_error, not a TimeoutError") {
  auto what = run_within([]() -> asio::awaitable<std::string> {
    tcp::socket holder(co_await asio::this_coro::executor);
    auto endpoint = refusing_endpoint(holder);
    auto connecting = [](tcp::endpoint to) -> asio::awaitable<std::string> {
      auto socket = co_await lesson014::connect(to);
      co_return "connected";
    };
    try {
      auto guarded = with_timeout(connecting(endpoint), 5000ms);
      co_await std::move(guarded);
      co_return "connected";
    } catch (const TimeoutError&) {
      co_return "TimeoutError";
    } catch (const std::system_error& error) {
      co_return error.code() == asio::error::connection_refused ? "refused" : "other";
    }
  }(), 3s);
  CHECK(what == "refused");
}

TEST_CASE("read_line with a timeout on a real socket: a line in time, or TimeoutError") {
  run_within([]() -> asio::awaitable<void> {
    auto [client, server] = co_await lesson014::socket_pair();
    LineReader reader(std::move(client));
    auto first = co_await outcome(reader.read_line(20ms));
    CHECK(first == "TimeoutError");  // nothing sent yet
    std::string text = "hello\nworld\n";
    co_await asio::async_write(server, asio::buffer(text), asio::use_awaitable);
    auto second = co_await outcome(reader.read_line(2000ms));
    auto third = co_await outcome(reader.read_line(2000ms));
    CHECK(second == "hello");
    CHECK(third == "world");
    server.close();
    auto fourth = co_await outcome(reader.read_line(2000ms));
    CHECK(fourth == "system_error");  // EOF, not a timeout
  }());
}

TEST_CASE("a partial line survives a timeout and is completed by the next read") {
  run_within([]() -> asio::awaitable<void> {
    auto [client, server] = co_await lesson014::socket_pair();
    LineReader reader(std::move(client));
    std::string start = "hel";
    co_await asio::async_write(server, asio::buffer(start), asio::use_awaitable);
    auto first = co_await outcome(reader.read_line(50ms));
    CHECK(first == "TimeoutError");
    CHECK(reader.buffered() == "hel");  // read, and kept
    std::string rest = "lo\n";
    co_await asio::async_write(server, asio::buffer(rest), asio::use_awaitable);
    auto second = co_await outcome(reader.read_line(2000ms));
    CHECK(second == "hello");
    CHECK(reader.buffered().empty());
  }());
}

TEST_CASE("data and deadline ready in the same turn: the line is kept, not lost") {
  auto line = run_within([]() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    auto [client, server] = co_await lesson014::socket_pair();
    LineReader reader(std::move(client));
    // 300 ms: ample time for the read to start waiting first, even on a loaded machine.
    Deadline deadline(executor, Clock::now() + 300ms);
    auto reading = deadline.run(reader.read_line());
    auto* peer = &server;
    auto blocking = [](tcp::socket* socket, Clock::time_point until) -> asio::awaitable<void> {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      // The read is waiting now. Send the line, then hold the loop past the deadline, so
      // that when it runs again the data and the expired timer are both ready at once.
      socket->write_some(asio::buffer(std::string("just in time\n")));
      std::this_thread::sleep_until(until);
    };
    auto holding = blocking(peer, deadline.when() + 50ms);
    auto both = co_await (std::move(reading) && std::move(holding));
    co_return both;
  }());
  CHECK(line == "just in time");
}

TEST_CASE("the deadline fires first, but the operation completed in that turn: result kept") {
  // Forces the other order: the operation has its data, then the loop is held past the
  // deadline and the operation's last step is a timer that expires *after* the deadline's.
  // Both timers are ready in the same turn and the deadline's handler runs first (timers run
  // in expiry order), so the operation is cancelled after it has already completed.
  auto result = run_within([]() -> asio::awaitable<std::pair<std::string, bool>> {
    auto executor = co_await asio::this_coro::executor;
    auto [client, server] = co_await lesson014::socket_pair();
    LineReader reader(std::move(client));
    std::string text = "answer\n";
    co_await asio::async_write(server, asio::buffer(text), asio::use_awaitable);
    // 300 ms: ample time for the read to complete before the deadline, even when loaded.
    Deadline deadline(executor, Clock::now() + 300ms);
    auto operation = [](LineReader* from, Clock::time_point until) -> asio::awaitable<std::string> {
      auto line = co_await from->read_line();
      std::this_thread::sleep_until(until);  // hold the loop: the deadline passes
      asio::steady_timer last_step(co_await asio::this_coro::executor, 0ms);
      co_await last_step.async_wait(asio::use_awaitable);
      co_return line;
    };
    auto guarded = deadline.run(operation(&reader, deadline.when() + 50ms));
    auto line = co_await std::move(guarded);
    co_return std::pair(line, deadline.expired());
  }());
  CHECK(result.first == "answer");
  CHECK(result.second);  // the deadline did expire, and still the line was returned
}

TEST_CASE("an operation that swallows its cancellation keeps its result (as in asyncio)") {
  auto text = run_within([]() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    Deadline deadline(executor, Clock::now() + 20ms);
    auto stubborn = []() -> asio::awaitable<std::string> {
      try {
        co_await sleep(5000ms);
      } catch (const std::system_error&) {
      }
      co_return "finished anyway";
    };
    auto guarded = deadline.run(stubborn());
    auto answer = co_await std::move(guarded);
    CHECK(deadline.expired());
    co_return answer;
  }(), 3s);
  CHECK(text == "finished anyway");
}

TEST_CASE("one deadline for a sequence: short steps, too long together") {
  auto steps = run_within([]() -> asio::awaitable<int> {
    int done = 0;
    auto sequence = [](int* count) -> asio::awaitable<void> {
      for (int i = 0; i < 4; ++i) {
        co_await sleep(40ms);
        ++*count;
      }
    };
    // Each 40 ms step would pass a 500 ms per-step timeout...
    for (int i = 0; i < 4; ++i) {
      auto step = with_timeout(sleep(40ms), 500ms);
      co_await std::move(step);
    }
    // ...but the four together do not fit in 100 ms.
    auto whole = lesson014::timeout_at(Clock::now() + 100ms, sequence(&done));
    bool timed_out = false;
    try {
      co_await std::move(whole);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    co_return done;
  }());
  CHECK(steps < 4);
}

TEST_CASE("read_lines: the lines that arrived before the deadline, and nothing lost after") {
  run_within([]() -> asio::awaitable<void> {
    auto [client, server] = co_await lesson014::socket_pair();
    LineReader reader(std::move(client));
    std::string text = "one\ntwo\nthr";
    co_await asio::async_write(server, asio::buffer(text), asio::use_awaitable);
    auto start = Clock::now();
    auto lines = co_await lesson014::read_lines(reader, 3, start + 50ms);
    CHECK(Clock::now() - start >= 50ms);
    CHECK(lines == std::vector<std::string>{"one", "two"});
    CHECK(reader.buffered() == "thr");
    text = "ee\n";
    co_await asio::async_write(server, asio::buffer(text), asio::use_awaitable);
    auto late = co_await outcome(reader.read_line(2000ms));
    CHECK(late == "three");
    // And all in time: no timeout at all.
    text = "x\ny\n";
    co_await asio::async_write(server, asio::buffer(text), asio::use_awaitable);
    auto quick = co_await lesson014::read_lines(reader, 2, Clock::now() + 2000ms);
    CHECK(quick == std::vector<std::string>{"x", "y"});
  }());
}

TEST_CASE("reschedule() moves a running deadline later or earlier") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    // Later: 20 ms would not do, the operation extends its own deadline first.
    Deadline later(executor, Clock::now() + 20ms);
    auto extending = [](Deadline* deadline) -> asio::awaitable<std::string> {
      deadline->reschedule(Clock::now() + 2000ms);
      co_await sleep(60ms);
      co_return "made it";
    };
    auto first = co_await outcome(later.run(extending(&later)));
    CHECK(first == "made it");
    CHECK_FALSE(later.expired());

    // Earlier: a 5 s deadline brought forward to 20 ms fires at once, not after 5 s.
    Deadline earlier(executor, Clock::now() + 5000ms);
    auto shortening = [](Deadline* deadline) -> asio::awaitable<std::string> {
      deadline->reschedule(Clock::now() + 20ms);
      co_await sleep(5000ms);
      co_return "too late";
    };
    auto second = co_await outcome(earlier.run(shortening(&earlier)));
    CHECK(second == "TimeoutError");
    CHECK(earlier.expired());
  }(), 3s);
}

TEST_CASE("nested deadlines: the inner one wins") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Deadline outer(executor, Clock::now() + 2000ms);
    Deadline inner(executor, Clock::now() + 20ms);
    std::string inner_saw;
    auto inner_part = observed(inner.run(answer_after(5000ms, "late")), &inner_saw);
    auto outer_part = outcome(outer.run(std::move(inner_part)));
    auto result = co_await std::move(outer_part);
    CHECK(result == "TimeoutError");
    CHECK(inner_saw == "TimeoutError");  // raised by the inner deadline...
    CHECK(inner.expired());
    CHECK_FALSE(outer.expired());        // ...and passed through the outer one unchanged

    // The outer body may catch the inner timeout and carry on within the outer deadline.
    Deadline outer2(executor, Clock::now() + 2000ms);
    Deadline inner2(executor, Clock::now() + 20ms);
    auto recovering = [](Deadline* deadline) -> asio::awaitable<std::string> {
      auto attempt = co_await outcome(deadline->run(answer_after(5000ms, "late")));
      if (attempt != "TimeoutError") co_return attempt;
      co_return co_await answer_after(10ms, "fallback");
    };
    auto recovered = co_await outcome(outer2.run(recovering(&inner2)));
    CHECK(recovered == "fallback");
    CHECK(inner2.expired());
    CHECK_FALSE(outer2.expired());
  }(), 3s);
}

TEST_CASE("nested deadlines: the outer one wins, the inner one passes the cancellation on") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Deadline outer(executor, Clock::now() + 20ms);
    Deadline inner(executor, Clock::now() + 2000ms);
    std::string inner_saw;
    auto inner_part = observed(inner.run(answer_after(5000ms, "late")), &inner_saw);
    auto outer_part = outcome(outer.run(std::move(inner_part)));
    auto result = co_await std::move(outer_part);
    CHECK(result == "TimeoutError");
    CHECK(inner_saw == "operation_aborted");  // not its own timeout: no TimeoutError inside
    CHECK_FALSE(inner.expired());
    CHECK(outer.expired());
  }(), 3s);
}

TEST_CASE("a cancellation from elsewhere is not turned into TimeoutError") {
  run_within([]() -> asio::awaitable<void> {
    std::string seen;
    auto guarded = observed(with_timeout(answer_after(5000ms, "late"), 2000ms), &seen);
    auto stop_soon = sleep(20ms);
    // `||` cancels the loser once the timer wins: a cancellation that is no deadline's.
    co_await (std::move(guarded) || std::move(stop_soon));
    CHECK(seen == "operation_aborted");
  }(), 3s);
}

TEST_CASE("deadline and an outside cancellation in the same turn: the outside one wins") {
  // asyncio counts cancel requests: Timeout raises TimeoutError only if the task was not also
  // cancelled by someone else; otherwise the CancelledError passes through.
  auto seen = run_within([]() -> asio::awaitable<std::pair<std::string, bool>> {
    auto executor = co_await asio::this_coro::executor;
    Deadline deadline(executor, Clock::now() + 50ms);
    auto guarded = [](Deadline* limit) -> asio::awaitable<std::string> {
      co_return co_await outcome(limit->run(answer_after(5000ms, "late")));
    };
    asio::cancellation_signal outside;
    std::optional<std::string> result;
    asio::co_spawn(executor, guarded(&deadline),
                   asio::bind_cancellation_slot(
                       outside.slot(), [&result](std::exception_ptr error, std::string text) {
                         if (error) std::rethrow_exception(error);
                         result = text;
                       }));
    // The outside cancel is due just after the deadline.
    asio::steady_timer canceller(executor, 60ms);
    // Not when the wait was cancelled: that is the canceller's destructor, at the end of this
    // coroutine, and `outside` goes with it.
    canceller.async_wait([&outside](asio::error_code error) {
      if (!error) outside.emit(asio::cancellation_type::terminal);
    });
    // Hold the loop from its first turn (a posted handler runs before any timer is due) until
    // both timers have expired: then they complete in one turn, in expiry order.
    asio::post(executor, [] { std::this_thread::sleep_for(200ms); });
    asio::steady_timer poll(executor);
    while (!result) {
      poll.expires_after(1ms);
      co_await poll.async_wait(asio::use_awaitable);
    }
    co_return std::pair(*result, deadline.expired());
  }(), 3s);
  CHECK(seen.first == "operation_aborted");
  CHECK(seen.second);  // the deadline did expire (asyncio: expired() is True too)
}

TEST_CASE("nested deadlines expiring in the same turn: the outer raises, the inner passes on") {
  // asyncio: both deadlines cancel the task; the inner Timeout sees two requests, one more
  // than its own, and lets the CancelledError through; the outer one raises TimeoutError.
  for (auto inner_first : {true, false}) {
    auto seen = run_within([](bool inner_sooner) -> asio::awaitable<std::string> {
      auto executor = co_await asio::this_coro::executor;
      auto now = Clock::now();
      Deadline outer(executor, now + (inner_sooner ? 60ms : 50ms));
      Deadline inner(executor, now + (inner_sooner ? 50ms : 60ms));
      // Held from the first turn until both have expired: they complete in one turn.
      asio::post(executor, [] { std::this_thread::sleep_for(200ms); });
      std::string inner_saw;
      auto inner_part = observed(inner.run(answer_after(5000ms, "late")), &inner_saw);
      auto outer_part = outcome(outer.run(std::move(inner_part)));
      auto result = co_await std::move(outer_part);
      CHECK(outer.expired());
      co_return "inner " + inner_saw + ", outer " + result;
    }(inner_first), 3s);
    CAPTURE(inner_first);
    CHECK(seen == "inner operation_aborted, outer TimeoutError");
  }
}

TEST_CASE("with_timeout cannot cut short an operation that ignores cancellation") {
  // Blocking work (asyncio.to_thread) is like this: nothing can abort it. The group waits for
  // it, so with_timeout returns late, with the result; asyncio raises TimeoutError on time and
  // leaves the thread running.
  auto start = Clock::now();
  auto text = run_within([]() -> asio::awaitable<std::string> {
    auto stubborn = []() -> asio::awaitable<std::string> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
      // An empty cancellation slot: this wait cannot be cancelled.
      co_await timer.async_wait(
          asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
      co_return "finished";
    };
    co_return co_await with_timeout(stubborn(), 20ms);
  }(), 3s);
  CHECK(text == "finished");
  CHECK(Clock::now() - start >= 200ms);
}

// ---- Watchdog: one timer per connection, re-armed per operation ------------------------------

namespace {

// One read on `socket` under `watchdog`: "data", "TimeoutError" (the watchdog cancelled it) or
// "operation_aborted" (cancelled by something else).
asio::awaitable<std::string> watched_read(tcp::socket* socket, lesson014::Watchdog* watchdog) {
  char byte = 0;
  auto reading = socket->async_read_some(asio::buffer(&byte, 1), compat::as_tuple(asio::use_awaitable));
  auto [error, n] = co_await std::move(reading);
  if (!error) co_return "data";
  if (watchdog->expired()) co_return "TimeoutError";
  co_return error == asio::error::operation_aborted ? "operation_aborted" : "system_error";
}

}  // namespace

TEST_CASE("Watchdog: the read in progress ends when the deadline passes, and not before") {
  run_within([]() -> asio::awaitable<void> {
    auto [client, server] = co_await lesson014::socket_pair();
    lesson014::Watchdog watchdog(client.get_executor(), [socket = &client] { socket->cancel(); });
    // Armed early, then moved later (the cheap path: the timer fires early and waits on).
    const auto start = Clock::now();
    watchdog.arm(start + 20ms);
    watchdog.arm(start + 80ms);
    auto first = co_await watched_read(&client, &watchdog);
    CHECK(first == "TimeoutError");
    CHECK(Clock::now() - start >= 80ms);
    // Re-armed: no longer expired; data in time is data.
    watchdog.arm(Clock::now() + 2000ms);
    CHECK_FALSE(watchdog.expired());
    co_await asio::async_write(server, asio::buffer("x", 1), asio::use_awaitable);
    auto second = co_await watched_read(&client, &watchdog);
    CHECK(second == "data");
    // Moved earlier: the timer is re-timed.
    watchdog.arm(Clock::now() + 10ms);
    auto third = co_await watched_read(&client, &watchdog);
    CHECK(third == "TimeoutError");
    watchdog.disarm();
  }());
}

TEST_CASE("Watchdog: disarmed or destroyed, it leaves nothing pending and calls nothing") {
  asio::io_context context;
  bool called = false;
  {
    lesson014::Watchdog kept(context.get_executor(), [&] { called = true; });
    kept.arm(Clock::now() + 10s);
    kept.disarm();
    auto destroyed = std::make_unique<lesson014::Watchdog>(context.get_executor(), [&] { called = true; });
    destroyed->arm(Clock::now() + 10s);
    destroyed.reset();
    const auto start = Clock::now();
    context.run();  // returns at once: no wait of 10 s left behind
    CHECK(Clock::now() - start < 5s);
  }
  context.restart();
  {  // its deadline already passed, destroyed before the io_context ran the wait's handler
    lesson014::Watchdog late(context.get_executor(), [&] { called = true; });
    late.arm(Clock::now() - 1ms);
  }
  context.run();
  CHECK_FALSE(called);
}
