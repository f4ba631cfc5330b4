// Lesson 023's main material: how to test async code. Read it top to bottom:
//   1. fake time: the clock, what Asio asks of it (pinned here), and the auto-advancing runner;
//   2. the code under test on fake time: a 15 s retry schedule, a 30 s timeout, cancellation;
//   3. mocks: an AsyncMock behind an interface, a scripted stream, and a real socket pair;
//   4. what not to do: a sleep instead of a synchronisation, and a wall-clock upper bound,
//      each shown failing deterministically.
#include "testing.hpp"

#include <cctype>
#include <memory>
#include <thread>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "fake_clock.hpp"
#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using asio::local::stream_protocol;
using lesson023::MockStore;
using lesson023::ScriptedStream;
using lesson023::TimeoutError;
using tut::fake::Clock;
using tut::fake::run_fake;
using tut::test::run_within;

namespace {

asio::awaitable<void> fake_sleep(Clock::duration duration) {
  tut::fake::Timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// How a coroutine ended, as a word, and at what fake time since `start`.
struct Ending {
  std::string how;
  Clock::duration at;
};

asio::awaitable<Ending> ending_of(asio::awaitable<std::string> operation) {
  auto start = Clock::now();
  std::string how;
  try {
    how = co_await std::move(operation);
  } catch (const TimeoutError&) {
    how = "TimeoutError";
  } catch (const std::system_error& error) {
    how = error.code().message();
  }
  co_return Ending{how, Clock::now() - start};
}

// A WaitTraits that records what Asio asks it, and answers like tut::fake::WaitTraits.
struct RecordingTraits {
  inline static std::vector<Clock::duration> asked;
  static Clock::duration to_wait_duration(const Clock::duration& remaining) {
    asked.push_back(remaining);
    return tut::fake::WaitTraits::to_wait_duration(remaining);
  }
  static Clock::duration to_wait_duration(const Clock::time_point& expiry) {
    return to_wait_duration(expiry - Clock::now());
  }
};

}  // namespace

// ---- 1. fake time --------------------------------------------------------------------------

TEST_CASE("the fake clock moves only when told to, and never back") {
  auto start = Clock::now();
  std::this_thread::sleep_for(5ms);
  CHECK(Clock::now() == start);
  Clock::advance(30s);
  CHECK(Clock::now() - start == 30s);
  CHECK_THROWS_AS(Clock::set(start), std::logic_error);
}

TEST_CASE("a test advances the fake clock by hand, and settle() fires what became due") {
  asio::io_context io;
  tut::fake::Timer timer(io, 30s);
  bool fired = false;
  timer.async_wait([&](std::error_code) { fired = true; });
  REQUIRE(tut::fake::settle(io));
  CHECK_FALSE(fired);
  Clock::advance(29s);
  REQUIRE(tut::fake::settle(io));
  CHECK_FALSE(fired);  // 1 s early: never fires, however long the test waits in real time
  Clock::advance(1s);
  CHECK_FALSE(tut::fake::settle(io));  // it fired, and the io_context ran out of work
  CHECK(fired);
}

// The runner relies on two things Asio does; these tests pin them, so an Asio release that
// changes them fails here first, with a clear name, instead of hanging other tests.
TEST_CASE("pin: Asio asks WaitTraits::to_wait_duration(expiry - now) how long it may sleep") {
  asio::io_context io;
  asio::basic_waitable_timer<Clock, RecordingTraits> timer(io, 1h);
  timer.async_wait([](std::error_code) {});
  io.poll();
  REQUIRE_FALSE(RecordingTraits::asked.empty());
  CHECK(RecordingTraits::asked.front() == 1h);  // the remaining *fake* time, when scheduled
  timer.cancel();
  io.run();
}

TEST_CASE("pin: with asio::wait_traits the reactor sleeps in real time and misses a fake jump") {
  // On Linux, Asio arms a timerfd for what to_wait_duration answers (capped at 5 minutes)
  // and looks at its timers only when that fires. The default traits answer the remaining
  // fake hour, so after the clock jumps, nothing fires for minutes.
  asio::io_context io;
  asio::basic_waitable_timer<Clock> timer(io, 1h);  // asio::wait_traits<Clock>
  bool fired = false;
  timer.async_wait([&](std::error_code error) { fired = !error; });
  io.poll();
  Clock::advance(1h);
  io.run_for(100ms);
  CHECK_FALSE(fired);  // due for 100 ms of real time, and not fired
  timer.cancel();
  io.restart();
  io.run();
}

TEST_CASE("pin: with tut::fake::WaitTraits the reactor sees a fake jump at once") {
  asio::io_context io;
  tut::fake::Timer timer(io, 1h);
  bool fired = false;
  timer.async_wait([&](std::error_code error) { fired = !error; });
  io.poll();
  Clock::advance(1h);
  CHECK(io.run_one_for(5s) == 1);  // in about 1 ms: the traits said "look again in 1 ms"
  CHECK(fired);
}

TEST_CASE("run_fake jumps from timer to timer: an hour of sleeps at exact times, at once") {
  auto start = Clock::now();
  std::vector<std::pair<std::string, Clock::duration>> trace;
  auto sleeper = [&trace, start](std::string name, Clock::duration d) -> asio::awaitable<void> {
    co_await fake_sleep(d);
    trace.emplace_back(name, Clock::now() - start);
  };
  auto all = sleeper("c", 1h) && sleeper("a", 1s) && sleeper("b", 1500ms);
  run_fake(std::move(all));
  using Trace = std::vector<std::pair<std::string, Clock::duration>>;
  CHECK(trace == Trace{{"a", 1s}, {"b", 1500ms}, {"c", 1h}});
}

TEST_CASE("a cancelled fake wait is no longer pending: the runner does not jump to it") {
  auto start = Clock::now();
  auto race = fake_sleep(1s) || fake_sleep(1h);  // the hour-long sleep is cancelled at 1 s
  run_fake(std::move(race));
  CHECK(Clock::now() - start == 1s);
  CHECK_FALSE(tut::fake::PendingWaits::earliest().has_value());
}

namespace {
asio::awaitable<void> late_writer(stream_protocol::socket socket) {
  co_await fake_sleep(5s);
  co_await asio::async_write(socket, asio::buffer("late\n", 5), asio::use_awaitable);
}

asio::awaitable<std::string> read_from_late_writer() {
  stream_protocol::socket mine(co_await asio::this_coro::executor), theirs(mine.get_executor());
  asio::local::connect_pair(mine, theirs);
  asio::co_spawn(mine.get_executor(), late_writer(std::move(theirs)), tut::rethrow);
  std::string line;
  co_await asio::async_read_until(mine, asio::dynamic_buffer(line), '\n', asio::use_awaitable);
  co_return line;
}
}  // namespace

TEST_CASE("a wait until time_point::max() is a wait for ever: the runner never jumps to it") {
  auto start = Clock::now();
  auto forever = []() -> asio::awaitable<void> {
    tut::fake::Timer signal(co_await asio::this_coro::executor, Clock::time_point::max());
    co_await signal.async_wait(asio::use_awaitable);  // the "timer as a signal" idiom
  };
  CHECK_THROWS_WITH(run_fake(forever(), 200ms), tut::test::ContainsSubstring("real-time limit"));
  CHECK(Clock::now() == start);  // not at the end of time, where every later test would be
}

namespace {
asio::awaitable<void> fail_after(Clock::duration delay) {
  co_await fake_sleep(delay);
  throw std::runtime_error("a background task failed");
}
}  // namespace

TEST_CASE("a run that ends by an exception leaves no fake wait behind for the next test") {
  auto test = []() -> asio::awaitable<void> {
    asio::co_spawn(co_await asio::this_coro::executor, fail_after(1s), tut::rethrow);
    co_await fake_sleep(1h);  // still waiting when the exception leaves run_fake at 1 s
  };
  CHECK_THROWS_WITH(run_fake(test()), "a background task failed");
  // The io_context was destroyed with the wait pending: its handler was destroyed, not run.
  CHECK_FALSE(tut::fake::PendingWaits::earliest().has_value());
}

TEST_CASE("with no fake timer pending, run_fake waits for real I/O") {
  auto start = Clock::now();
  CHECK(run_fake(read_from_late_writer()) == "late\n");
  CHECK(Clock::now() - start == 5s);
}

TEST_CASE("a hung test fails within its real-time limit, on fake time and on real time") {
  MockStore store;
  store.hangs().hangs();
  // No timeout around the get: nothing will ever happen. The guards fail it in 200 ms.
  CHECK_THROWS_WITH(run_fake(store.get("k"), 200ms),
                    tut::test::ContainsSubstring("real-time limit"));
  CHECK_THROWS_WITH(run_within(store.get("k"), 200ms),
                    tut::test::ContainsSubstring("did not finish in time"));
}

// ---- 2. the code under test, on fake time --------------------------------------------------

TEST_CASE("a 15 s retry schedule: the attempts come at exactly 0, 1, 3, 7 and 15 s") {
  MockStore store;
  for (int i = 0; i < 4; ++i) store.fails(asio::error::connection_refused);
  store.answers("v");
  auto start = Clock::now();
  std::vector<Clock::duration> delays{1s, 2s, 4s, 8s};
  auto value = run_fake(lesson023::get_with_retry<tut::fake::Timer>(store, "k", delays));
  CHECK(value == "v");
  std::vector<Clock::duration> at;
  for (auto when : store.called_at) at.push_back(when - start);
  CHECK(at == std::vector<Clock::duration>{0s, 1s, 3s, 7s, 15s});
}

TEST_CASE("retry gives up after its last delay and rethrows the last error") {
  MockStore store;
  store.fails(asio::error::connection_refused).fails(asio::error::host_unreachable)
      .fails(asio::error::timed_out);
  std::vector<Clock::duration> delays{1s, 2s};
  auto ending = run_fake(ending_of(lesson023::get_with_retry<tut::fake::Timer>(store, "k", delays)));
  CHECK(ending.how == std::error_code(asio::error::timed_out).message());
  CHECK(ending.at == 3s);
  CHECK(store.keys.size() == 3);
}

TEST_CASE("retry cancelled during a backoff sleep stops there: no further attempt") {
  MockStore store;
  store.fails(asio::error::connection_refused).fails(asio::error::connection_refused)
      .answers("too late");
  auto start = Clock::now();
  std::vector<Clock::duration> delays{1s, 2s};
  auto retrying = lesson023::get_with_retry<tut::fake::Timer>(store, "k", delays);
  auto race = std::move(retrying) || fake_sleep(2500ms);  // cancels it at 2.5 s, mid-sleep
  auto result = run_fake(std::move(race));
  CHECK(result.index() == 1);
  CHECK(store.keys.size() == 2);  // attempts at 0 s and 1 s; the 3 s one never came
  CHECK(Clock::now() - start == 2500ms);
}

TEST_CASE("a 30 s timeout: TimeoutError at exactly 30 s, once the hung get was cancelled") {
  MockStore store;
  store.hangs();
  auto ending = run_fake(ending_of(lesson023::get_within<tut::fake::Timer>(store, "k", 30s)));
  CHECK(ending.how == "TimeoutError");
  CHECK(ending.at == 30s);
  CHECK(store.cancelled == 1);
}

TEST_CASE("an answer before the deadline comes at its own time, not at the deadline") {
  MockStore store;
  store.answers("v", 29s);
  auto ending = run_fake(ending_of(lesson023::get_within<tut::fake::Timer>(store, "k", 30s)));
  CHECK(ending.how == "v");
  CHECK(ending.at == 29s);
}

TEST_CASE("an error before the deadline comes out at once, not as a timeout") {
  MockStore store;
  store.fails(asio::error::connection_refused, 1s);
  auto ending = run_fake(ending_of(lesson023::get_within<tut::fake::Timer>(store, "k", 30s)));
  CHECK(ending.how == std::error_code(asio::error::connection_refused).message());
  CHECK(ending.at == 1s);
}

TEST_CASE("fake time is deterministic: the same scenario gives the same trace on every run") {
  auto scenario = []() -> std::vector<std::string> {
    auto start = Clock::now();
    MockStore store;
    store.answers("tie", 30s).fails(asio::error::connection_refused, 2s).answers("v");
    std::vector<std::string> trace;
    auto record = [&](asio::awaitable<std::string> op) -> asio::awaitable<void> {
      auto ending = co_await ending_of(std::move(op));
      trace.push_back(fmt::format("{} at {}", ending.how, tut::seconds(Clock::now() - start)));
    };
    // A deadline and an answer at the same fake time, and a retry running beside them.
    std::vector<Clock::duration> delays{5s};
    auto both = record(lesson023::get_within<tut::fake::Timer>(store, "a", 30s)) &&
                record(lesson023::get_with_retry<tut::fake::Timer>(store, "b", delays));
    run_fake(std::move(both));
    return trace;
  };
  auto first = scenario();
  REQUIRE(first.size() == 2);
  CHECK(first[0] == "v at 7.0s");
  CHECK_THAT(first[1], tut::test::ContainsSubstring("at 30.0s"));
  for (int run = 0; run < 20; ++run) CHECK(scenario() == first);
}

TEST_CASE("the same code on the real clock: get_with_retry<asio::steady_timer>") {
  MockStore store;  // delays 0: its fake clock is not needed here
  store.fails(asio::error::connection_refused).answers("v");
  auto start = std::chrono::steady_clock::now();
  std::vector<asio::steady_timer::duration> delays{20ms};
  auto value = run_within(lesson023::get_with_retry<asio::steady_timer>(store, "k", delays));
  CHECK(value == "v");
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);  // a lower bound always holds
}

// ---- 3. mocks ------------------------------------------------------------------------------

TEST_CASE("MockStore records its calls like AsyncMock, and refuses an unscripted one") {
  MockStore store;
  store.answers("1");
  auto both = [&store]() -> asio::awaitable<std::string> {
    auto first = co_await store.get("x");
    auto second = co_await store.get("y");  // not scripted: throws
    co_return first + second;
  };
  CHECK_THROWS_WITH(run_fake(both()), tut::test::ContainsSubstring("unscripted get(\"y\")"));
  CHECK(store.keys == std::vector<std::string>{"x", "y"});
}

namespace {
// ask() on a scripted stream, run on the stream's own io_context: the reply, or the error.
std::string ask_scripted(asio::io_context& io, ScriptedStream& stream, std::string question) {
  tut::Completion<std::string> outcome;
  tut::spawn_into(io, lesson023::ask(stream, std::move(question)), outcome);
  io.restart();
  io.run_for(10s);
  REQUIRE(outcome.done);
  try {
    return outcome.take();
  } catch (const std::system_error& error) {
    return "error: " + error.code().message();
  }
}
}  // namespace

TEST_CASE("a scripted stream: ask() writes the question and reads the canned reply") {
  asio::io_context io;
  ScriptedStream stream(io.get_executor());
  stream.write("ping\n").read("po").read("ng\n");  // the reply arrives in two pieces
  CHECK(ask_scripted(io, stream, "ping") == "pong");
  CHECK(stream.done());
  CHECK(stream.mismatch().empty());
}

TEST_CASE("a scripted stream: a wrong write fails, and the mismatch says what was expected") {
  asio::io_context io;
  ScriptedStream stream(io.get_executor());
  stream.write("PING\n").read("pong\n");
  CHECK(ask_scripted(io, stream, "ping") ==
        "error: " + std::error_code(asio::error::invalid_argument).message());
  CHECK(stream.mismatch() == "write \"ping\\n\", expected \"PING\\n\"");
  CHECK_FALSE(stream.done());
}

TEST_CASE("a scripted stream: injected errors and an early end") {
  asio::io_context io;
  ScriptedStream reset(io.get_executor());
  reset.write("ping\n").error(asio::error::connection_reset);
  CHECK(ask_scripted(io, reset, "ping") ==
        "error: " + std::error_code(asio::error::connection_reset).message());
  ScriptedStream closed(io.get_executor());
  closed.write("ping\n").read("po");  // then the script ends: the peer has closed
  CHECK(ask_scripted(io, closed, "ping") == "error: " + std::error_code(asio::error::eof).message());
  ScriptedStream unfinished(io.get_executor());
  unfinished.write("ping\n").read("pong\n").write("bye\n");
  CHECK(ask_scripted(io, unfinished, "ping") == "pong");
  CHECK_FALSE(unfinished.done());  // the code under test never said bye
}

namespace {
// The other end of a real socket pair: reads one line, answers it in capitals or, if not
// `answering`, closes without a word.
asio::awaitable<void> shouting_peer(stream_protocol::socket socket, bool answering) {
  std::string line;
  co_await asio::async_read_until(socket, asio::dynamic_buffer(line), '\n', asio::use_awaitable);
  if (!answering) co_return;  // the socket is destroyed here: the asker reads eof
  for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
}

asio::awaitable<std::string> ask_over_socket_pair(bool answering) {
  stream_protocol::socket mine(co_await asio::this_coro::executor), theirs(mine.get_executor());
  asio::local::connect_pair(mine, theirs);  // a real, connected pair: no port, no listener
  asio::co_spawn(mine.get_executor(), shouting_peer(std::move(theirs), answering),
                 tut::rethrow);
  std::string reply;
  try {
    reply = co_await lesson023::ask(mine, "hello");
  } catch (const std::system_error& error) {
    reply = "error: " + error.code().message();
  }
  co_return reply;
}
}  // namespace

TEST_CASE("a real socket pair (local::connect_pair) where a mock would prove less") {
  CHECK(run_within(ask_over_socket_pair(true)) == "HELLO");
  // The peer reads the question and hangs up: eof, from the real kernel.
  CHECK(run_within(ask_over_socket_pair(false)) ==
        "error: " + std::error_code(asio::error::eof).message());
}

// ---- 4. what not to do ---------------------------------------------------------------------

namespace {
asio::awaitable<void> background_work(Clock::duration takes, std::shared_ptr<bool> done) {
  co_await fake_sleep(takes);
  *done = true;
}

// The flaky pattern: start the work, sleep "long enough", look.
asio::awaitable<bool> sleep_then_look(Clock::duration work_takes) {
  auto done = std::make_shared<bool>(false);
  asio::co_spawn(co_await asio::this_coro::executor, background_work(work_takes, done),
                 tut::rethrow);
  co_await fake_sleep(50ms);  // "the work takes 10 ms, 50 ms is plenty"
  co_return *done;
}

// The right way: wait for the work itself to say it is done.
asio::awaitable<bool> await_then_look(Clock::duration work_takes) {
  auto done = std::make_shared<bool>(false);
  auto work = background_work(work_takes, done);
  co_await asio::co_spawn(co_await asio::this_coro::executor, std::move(work),
                          asio::use_awaitable);
  co_return *done;
}
}  // namespace

TEST_CASE("don't: synchronise with a sleep. It passes until the machine is slower") {
  // On fake time the "slow machine" is injected exactly, so the failure is deterministic.
  CHECK(run_fake(sleep_then_look(10ms)));        // the usual run: passes
  CHECK_FALSE(run_fake(sleep_then_look(60ms)));  // a loaded CI machine: the test would fail
  // Awaiting the work itself holds for any delay, and costs no real time on fake time.
  for (auto takes : {Clock::duration(10ms), Clock::duration(60ms), Clock::duration(1h)})
    CHECK(run_fake(await_then_look(takes)));
}

namespace {
// A stall the test does not control (the CI machine is busy): blocks the loop's thread.
void stall(asio::any_io_executor executor, std::chrono::milliseconds how_long) {
  asio::post(executor, [how_long] { std::this_thread::sleep_for(how_long); });
}

asio::awaitable<void> real_sleep_with_stall() {
  stall(co_await asio::this_coro::executor, 50ms);
  asio::steady_timer timer(co_await asio::this_coro::executor, 30ms);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> fake_sleep_with_stall() {
  stall(co_await asio::this_coro::executor, 50ms);
  co_await fake_sleep(30ms);
}
}  // namespace

TEST_CASE("don't: assert a wall-clock upper bound. A stall breaks it, fake time does not care") {
  auto start = std::chrono::steady_clock::now();
  run_within(real_sleep_with_stall());
  auto took = std::chrono::steady_clock::now() - start;
  // `CHECK(took < 35ms)` "30 ms and a margin" passes on an idle machine; the stall breaks it:
  CHECK_FALSE(took < 35ms);
  CHECK(took >= 50ms);
  // On fake time the same stall changes nothing: the sleep takes exactly 30 ms.
  auto fake_start = Clock::now();
  run_fake(fake_sleep_with_stall());
  CHECK(Clock::now() - fake_start == 30ms);
}
