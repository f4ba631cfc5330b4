#include "event_loop.hpp"
#include "model_loop.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <future>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using tut::test::ContainsSubstring;
using Lines = std::vector<std::string>;

namespace {
// A Say that collects the lines, for the show_* demos and tiny_program.
struct Collect {
  Lines lines;
  lesson015::Say say() {
    return [this](const std::string& line) { lines.push_back(line); };
  }
  bool has(const std::string& text) const {
    for (auto& line : lines)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
};
}  // namespace

// ---- io_context ------------------------------------------------------------------------

TEST_CASE("run() returns when out of work and stays stopped until restart()") {
  asio::io_context io;
  int ran = 0;
  asio::post(io, [&] { ++ran; });
  asio::post(io, [&] { ++ran; });
  CHECK(io.run() == 2);
  CHECK(ran == 2);
  CHECK(io.stopped());
  asio::post(io, [&] { ++ran; });
  CHECK(io.run() == 0);  // stopped: the handler waits
  CHECK(ran == 2);
  io.restart();
  CHECK(io.run() == 1);
  CHECK(ran == 3);

  Collect out;
  lesson015::show_run(out.say());
  CHECK(out.has("run() returned 2"));
  CHECK(out.has("restart(); run() returned 1"));
}

TEST_CASE("run_one() runs one handler while poll() and poll_one() never wait") {
  asio::io_context io;
  Lines ran;
  for (auto name : {"a", "b", "c"}) asio::post(io, [&ran, name] { ran.push_back(name); });
  // A timer that is never due during this test: poll() returning at all proves it did not
  // wait for it, however slow the machine is.
  asio::steady_timer far_timer(io, std::chrono::hours(1));
  bool far_fired = false;
  far_timer.async_wait([&](std::error_code error) { far_fired = !error; });

  CHECK(io.poll_one() == 1);
  CHECK(ran == Lines{"a"});
  CHECK(io.run_one() == 1);
  CHECK(ran == Lines{"a", "b"});
  CHECK(io.poll() == 1);
  CHECK(io.poll() == 0);  // the timer is not due: nothing ready, and poll() does not wait
  CHECK_FALSE(far_fired);

  asio::steady_timer soon(io, 30ms);
  bool fired = false;
  soon.async_wait([&](std::error_code error) { fired = !error; });
  CHECK(io.run_one() == 1);  // waits for the timer that is due first
  CHECK(fired);
  CHECK(tut::clock::now() >= soon.expiry());  // a timer never fires before its expiry

  far_timer.cancel();
  CHECK(io.run_one() == 1);  // the cancelled wait completes with operation_aborted
  CHECK_FALSE(far_fired);
  CHECK(io.run_one() == 0);  // out of work
}

TEST_CASE("run_for() returns when its time is up with work still pending") {
  asio::io_context io;
  asio::steady_timer timer(io, 10s);
  std::error_code result;
  timer.async_wait([&](std::error_code error) { result = error; });
  auto start = tut::clock::now();
  CHECK(io.run_for(30ms) == 0);
  CHECK(tut::clock::now() - start >= 30ms);
  CHECK_FALSE(io.stopped());  // it did not run out of work, time ran out
  timer.cancel();
  CHECK(io.run() == 1);
  CHECK(result == asio::error::operation_aborted);

  Collect out;
  lesson015::show_run_one_and_poll(out.say());
  CHECK(out.has("run_for(100ms) returned 0"));
  CHECK(out.has("Operation aborted"));
}

TEST_CASE("stop() ends run() after the current handler and restart() runs the rest") {
  asio::io_context io;
  Lines ran;
  asio::post(io, [&] {
    ran.push_back("a");
    io.stop();
  });
  asio::post(io, [&] { ran.push_back("b"); });
  asio::post(io, [&] { ran.push_back("c"); });
  CHECK(io.run() == 1);
  CHECK(io.stopped());
  CHECK(io.run() == 0);
  CHECK(ran == Lines{"a"});
  io.restart();
  CHECK(io.run() == 2);
  CHECK(ran == Lines{"a", "b", "c"});

  Collect out;
  lesson015::show_stop_and_restart(out.say());
  CHECK(out.lines == Lines{"  handler a: calls stop()",
                           "run() returned 1: stop() ends it after the current handler",
                           "stopped() = true; run() returned 0: b and c wait in the queue",
                           "  handler b", "  handler c", "restart(); run() returned 2"});
}

TEST_CASE("a work guard keeps run() waiting while idle until reset()") {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::atomic<bool> returned{false};
  std::thread loop_thread([&] {
    io.run();
    returned = true;
  });
  std::promise<void> handled;
  asio::post(io, [&] { handled.set_value(); });
  handled.get_future().wait();
  std::this_thread::sleep_for(30ms);  // the queue is empty now: without the guard, run() ends
  CHECK_FALSE(returned);
  guard.reset();
  loop_thread.join();
  CHECK(returned);

  asio::io_context unguarded;  // and without one, run() with nothing to do returns at once
  CHECK(unguarded.run() == 0);

  Collect out;
  lesson015::show_work_guard(out.say());
  REQUIRE(out.lines.size() == 4);
  CHECK_THAT(out.lines[1], ContainsSubstring("ran a handler main posted"));
  CHECK_THAT(out.lines[3], ContainsSubstring("run() returned 1"));
}

TEST_CASE("dispatch runs inline on the loop while post and defer queue in call order") {
  CHECK(lesson015::post_dispatch_defer_order() ==
        Lines{"main: called dispatch and post; nothing ran yet",
              "dispatch from main: queued, it runs first", "handler starts",
              "dispatch: ran inline, inside the handler", "handler ends",
              "post: queued, ran after the handler returned",
              "defer: queued, ran after the handler returned"});
}

TEST_CASE("signal_set catches a signal the process raises once per async_wait") {
  CHECK(lesson015::catch_raised_signals(SIGUSR1, 3) == std::vector<int>{SIGUSR1, SIGUSR1, SIGUSR1});
  CHECK(lesson015::catch_raised_signals(SIGUSR2, 1) == std::vector<int>{SIGUSR2});
  CHECK_THROWS_AS(lesson015::catch_raised_signals(SIGUSR1, 0), std::invalid_argument);
}

TEST_CASE("a signal raised before async_wait is kept for it") {
  asio::io_context io;
  asio::signal_set signals(io, SIGUSR2);
  std::raise(SIGUSR2);  // the set owns SIGUSR2 already: the process is not killed
  int caught = 0;
  signals.async_wait([&](std::error_code error, int number) {
    if (!error) caught = number;
  });
  io.run_for(5s);  // returns once the wait completed (the count includes Asio's own handlers)
  CHECK(caught == SIGUSR2);
}

TEST_CASE("coroutines suspended with co_await post() alternate one per run_one()") {
  auto trace = lesson015::ping_pong(3);
  Lines players;
  int steps = 0;
  for (auto& line : trace) {
    if (line.rfind("run_one() #", 0) == 0) ++steps;
    if (line.find("ping") != std::string::npos && line.rfind("co_spawn", 0) != 0)
      players.push_back("ping");
    if (line.find("pong") != std::string::npos && line.rfind("co_spawn", 0) != 0)
      players.push_back("pong");
  }
  // 3 rounds each plus the final step of each (return): 8 steps, strictly alternating.
  CHECK(players == Lines{"ping", "pong", "ping", "pong", "ping", "pong", "ping", "pong"});
  CHECK(steps == 9);  // 8 steps that resumed a coroutine, and the one that found no work
  CHECK_THAT(trace.back(), ContainsSubstring("returned 0"));
}

// ---- the model loop -------------------------------------------------------------------

TEST_CASE("model: call_soon is FIFO and what a callback schedules runs in the next iteration") {
  lesson015::model::Loop loop;
  Lines ran;
  loop.call_soon([&] {
    ran.push_back("1");
    loop.call_soon([&] { ran.push_back("3"); });
  });
  loop.call_soon([&] { ran.push_back("2"); });
  CHECK(loop.run_once() == 2);
  CHECK(ran == Lines{"1", "2"});
  CHECK(loop.run_once() == 1);
  CHECK(ran == Lines{"1", "2", "3"});
}

TEST_CASE("model: timers run in deadline order and equal deadlines in insertion order") {
  lesson015::model::Loop loop;
  Lines ran;
  auto start = loop.time();
  // Registered in deadline order, each deadline measured after the one before, so a stall
  // between two calls on a loaded machine can only push later deadlines further out.
  loop.call_later(10ms, [&] { ran.push_back("10ms"); });
  auto when = loop.time() + 20ms;
  for (auto name : {"20ms-a", "20ms-b", "20ms-c", "20ms-d"})
    loop.call_at(when, [&ran, name] { ran.push_back(name); });
  loop.call_later(30ms, [&] {
    ran.push_back("30ms");
    loop.stop();
  });
  loop.run_forever();
  CHECK(ran == Lines{"10ms", "20ms-a", "20ms-b", "20ms-c", "20ms-d", "30ms"});
  CHECK(loop.time() - start >= 30ms);  // timers never fire early
}

TEST_CASE("model: stop() lets the current iteration finish and run_forever() can run again") {
  lesson015::model::Loop loop;
  Lines ran;
  loop.call_soon([&] {
    ran.push_back("stopper");
    loop.stop();
  });
  loop.call_soon([&] { ran.push_back("same iteration"); });
  loop.run_forever();
  CHECK(ran == Lines{"stopper", "same iteration"});  // asyncio: yes; io_context::stop(): no

  loop.call_soon([&] { ran.push_back("second run"); });
  loop.stop();  // before run_forever(): exactly one iteration, as in asyncio
  loop.run_forever();
  CHECK(ran.back() == "second run");
  CHECK_THROWS_AS(loop.run_forever(), std::logic_error);  // nothing left to wait for
}

TEST_CASE("model: add_reader runs its callback when the fd is readable") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  lesson015::model::Loop loop;
  std::string received;
  loop.add_reader(fds[0], [&] {
    char buffer[16];
    auto n = ::read(fds[0], buffer, sizeof buffer);
    received.append(buffer, static_cast<std::size_t>(n));
    loop.remove_reader(fds[0]);
    loop.stop();
  });
  loop.call_later(20ms, [&] { CHECK(::write(fds[1], "ping", 4) == 4); });
  loop.run_forever();
  CHECK(received == "ping");
  CHECK_FALSE(loop.remove_reader(fds[0]));
  CHECK_THROWS_AS(loop.add_reader(-1, [] {}), std::invalid_argument);
  ::close(fds[0]);
  ::close(fds[1]);
}

namespace {
// Where `line` is in `lines` (lines.size() if absent).
std::size_t position(const Lines& lines, const std::string& prefix) {
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind(prefix, 0) == 0) return i;
  return lines.size();
}

// The orders the tiny program guarantees on any loop, however late the timers fire (on a busy
// machine a late timer can share a round with the next one, so the exact interleaving of
// call_soon callbacks and timers is only what the demo shows on an idle machine).
void check_tiny_program_order(const Lines& lines) {
  INFO("lines: " << ::Catch::Detail::stringify(lines));
  REQUIRE(lines.size() == 7);
  CHECK(position(lines, "A:") < position(lines, "B:"));  // call_soon is FIFO
  CHECK(position(lines, "B:") < position(lines, "C:"));  // C was queued after B
  CHECK(position(lines, "call_later 0.1s") < position(lines, "D:"));
  CHECK(position(lines, "call_later 0.1s") < position(lines, "call_later 0.3s"));  // by deadline
  CHECK(lines.back() == "call_later 0.5s: calls stop()");
}
}  // namespace

TEST_CASE("the tiny program runs in the same order on the model loop and on io_context") {
  Collect on_model;
  lesson015::model::Loop model;
  auto start = tut::clock::now();
  lesson015::tiny_program(model, on_model.say());
  model.run_forever();
  CHECK(tut::clock::now() - start >= 500ms);  // it stopped at the 0.5 s timer, not earlier
  check_tiny_program_order(on_model.lines);

  Collect on_asio;
  asio::io_context io;
  lesson015::AsioLoop loop(io);
  start = tut::clock::now();
  lesson015::tiny_program(loop, on_asio.say());
  loop.run_forever();
  CHECK(tut::clock::now() - start >= 500ms);
  check_tiny_program_order(on_asio.lines);
  CHECK_FALSE(io.stopped());  // run_forever() restarted it: it can run again

  Lines again;
  loop.call_soon([&] {
    again.push_back("after restart");
    loop.stop();
  });
  loop.run_forever();
  CHECK(again == Lines{"after restart"});
}
