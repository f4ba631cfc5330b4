// Lesson 015: the event loop. Each function below drives a fresh io_context by hand and says
// what happens, step by step. The header maps every call to its asyncio counterpart.
#include "event_loop.hpp"

#include <csignal>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/defer.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "log.hpp"
#include "run.hpp"

namespace lesson015 {

using namespace std::chrono_literals;

namespace {
// "0.1s": time since `start`, rounded down to 0.1 s like the logger, so the output is stable.
std::string since(tut::clock::time_point start) { return tut::seconds(tut::clock::now() - start); }
}  // namespace

void show_run(const Say& say) {
  asio::io_context io;
  // Nothing to do: run() returns at once. asyncio's run_forever() would wait for stop().
  say(fmt::format("run() with no work returned {} at once", io.run()));

  io.restart();  // run() stopped the io_context when it ran out of work
  asio::post(io, [&] { say("  handler 1"); });
  asio::post(io, [&] { say("  handler 2"); });
  say("posted 2 handlers: nothing runs until someone calls run()");
  auto ran = io.run();
  say(fmt::format("run() returned {}: it ran both, then ran out of work; stopped() = {}", ran,
                  io.stopped()));

  asio::post(io, [&] { say("  handler 3"); });
  say(fmt::format("posted handler 3; run() returned {}: a stopped io_context runs nothing",
                  io.run()));
  io.restart();
  say(fmt::format("restart(); run() returned {}", io.run()));
}

void show_run_one_and_poll(const Say& say) {
  asio::io_context io;
  for (int i = 1; i <= 3; ++i) asio::post(io, [&say, i] { say(fmt::format("  handler {}", i)); });
  auto start = tut::clock::now();
  asio::steady_timer timer(io, 100ms);
  timer.async_wait([&](std::error_code) { say(fmt::format("  timer fired at {}", since(start))); });
  say("posted 3 handlers and started a 0.1s timer");

  auto ran = io.poll_one();  // at most one ready handler
  say(fmt::format("poll_one() returned {}", ran));
  ran = io.run_one();  // exactly one, waiting if needed
  say(fmt::format("run_one() returned {}", ran));
  say(fmt::format("poll() returned {}: every ready handler, without waiting", io.poll()));
  say(fmt::format("poll() returned {}: the timer is not due and poll() never waits", io.poll()));
  ran = io.run_one();  // a statement of its own: the time must be read after it returns
  say(fmt::format("run_one() returned {} at {}: it waited for the timer", ran, since(start)));

  io.restart();  // out of work again, so stopped
  asio::steady_timer far_away(io, 10s);
  far_away.async_wait([&](std::error_code error) {
    say(fmt::format("  10s timer handler: {}", error.message()));
  });
  start = tut::clock::now();
  ran = io.run_for(100ms);  // returns when time is up, even though work remains
  say(fmt::format("run_for(100ms) returned {} at {}; the 10s timer is still pending", ran,
                  since(start)));
  far_away.cancel();  // its handler is now ready, with operation_aborted
  say(fmt::format("cancel(); run() returned {}", io.run()));
}

void show_stop_and_restart(const Say& say) {
  asio::io_context io;
  asio::post(io, [&] {
    say("  handler a: calls stop()");
    io.stop();
  });
  asio::post(io, [&] { say("  handler b"); });
  asio::post(io, [&] { say("  handler c"); });
  auto ran = io.run();
  say(fmt::format("run() returned {}: stop() ends it after the current handler", ran));
  bool stopped = io.stopped();
  ran = io.run();
  say(fmt::format("stopped() = {}; run() returned {}: b and c wait in the queue", stopped, ran));
  io.restart();
  say(fmt::format("restart(); run() returned {}", io.run()));
}

void show_work_guard(const Say& say) {
  asio::io_context io;
  // The guard counts as outstanding work: run() blocks, waiting for handlers, instead of
  // returning when the queue is empty. This is how a loop thread waits for work that other
  // threads will post (asyncio: loop.run_forever() plus call_soon_threadsafe()).
  auto guard = asio::make_work_guard(io);
  std::thread loop_thread([&] {
    auto ran = io.run();
    say(fmt::format("  [loop thread] run() returned {}, only once the guard was gone", ran));
  });
  say("main: the loop thread called run(); the queue is empty but the guard keeps it waiting");

  std::this_thread::sleep_for(100ms);  // meanwhile the loop thread idles inside run()
  std::promise<void> handled;
  asio::post(io, [&] {  // post() is thread-safe: this is call_soon_threadsafe
    say("  [loop thread] ran a handler main posted 0.1s later");
    handled.set_value();
  });
  handled.get_future().wait();

  std::this_thread::sleep_for(100ms);
  say("main: 0.1s later, guard.reset(): now run() may return once it is idle");
  guard.reset();
  loop_thread.join();
}

std::vector<std::string> post_dispatch_defer_order() {
  asio::io_context io;
  std::vector<std::string> trace;
  // Not inside run(): dispatch() cannot run the function here, so it queues it like post().
  asio::dispatch(io, [&] { trace.push_back("dispatch from main: queued, it runs first"); });
  asio::post(io, [&] {
    trace.push_back("handler starts");
    asio::post(io, [&] { trace.push_back("post: queued, ran after the handler returned"); });
    // We are running on the io_context already: dispatch() calls the function right here.
    asio::dispatch(io, [&] { trace.push_back("dispatch: ran inline, inside the handler"); });
    // defer() is post() with a hint: "this continues my work", so Asio may keep it on this
    // thread's private queue. It still runs only after the handler returns.
    asio::defer(io, [&] { trace.push_back("defer: queued, ran after the handler returned"); });
    trace.push_back("handler ends");
  });
  trace.push_back("main: called dispatch and post; nothing ran yet");
  io.run();
  return trace;
}

std::vector<int> catch_raised_signals(int signal_number, int times) {
  if (times < 1) throw std::invalid_argument("catch_raised_signals: times must be at least 1");
  asio::io_context io;
  // From its construction on, the signal_set owns the signal: the process is no longer
  // killed by it, and a signal that arrives before async_wait() waits to be collected.
  asio::signal_set signals(io, signal_number);
  std::vector<int> caught;
  std::function<void(std::error_code, int)> on_signal = [&](std::error_code error, int number) {
    if (error) return;  // operation_aborted: the set was cancelled
    caught.push_back(number);
    if (static_cast<int>(caught.size()) < times) {
      signals.async_wait(on_signal);  // one async_wait catches one signal: re-arm
      std::raise(signal_number);
    }
  };
  signals.async_wait(on_signal);
  // The handler that raises runs inside run(), so the signal is caught by the loop that waits.
  asio::post(io, [signal_number] { std::raise(signal_number); });
  io.run();  // returns when no wait is pending any more
  return caught;
}

namespace {
// Parameters by value: `trace` is a pointer that outlives the io_context run below.
asio::awaitable<void> player(std::string name, int rounds, std::vector<std::string>* trace) {
  auto executor = co_await asio::this_coro::executor;
  for (int round = 1; round <= rounds; ++round) {
    trace->push_back(fmt::format("  {} {}: runs, then suspends", name, round));
    // Queue our own resumption behind what is already queued, and suspend: asyncio.sleep(0).
    co_await asio::post(executor, asio::use_awaitable);
  }
  trace->push_back(fmt::format("  {}: resumed, returns", name));
}
}  // namespace

std::vector<std::string> ping_pong(int rounds) {
  asio::io_context io;
  std::vector<std::string> trace;
  asio::co_spawn(io, player("ping", rounds, &trace), tut::rethrow);
  asio::co_spawn(io, player("pong", rounds, &trace), tut::rethrow);
  trace.push_back("co_spawn(ping), co_spawn(pong): both are queued, neither has run");
  for (int step = 1;; ++step) {
    auto before = trace.size();
    auto ran = io.run_one();
    if (ran == 0) {
      trace.push_back(fmt::format("run_one() #{} returned 0: no work left", step));
      break;
    }
    // Label the lines the step printed (a step may be Asio bookkeeping and print nothing).
    trace.insert(trace.begin() + static_cast<std::ptrdiff_t>(before),
                 fmt::format("run_one() #{}", step));
  }
  return trace;
}

void AsioLoop::call_soon(std::function<void()> callback) { asio::post(io_, std::move(callback)); }

void AsioLoop::call_later(clock::duration delay, std::function<void()> callback) {
  // The timer must live until its handler runs: the handler owns it (a shared_ptr).
  auto timer = std::make_shared<asio::steady_timer>(io_, delay);
  timer->async_wait([timer, callback = std::move(callback)](std::error_code error) {
    if (!error) callback();  // cancelled: like a cancelled asyncio TimerHandle, nothing runs
  });
}

void AsioLoop::run_forever() {
  auto guard = asio::make_work_guard(io_);
  io_.run();  // returns after stop(); the guard alone would keep it waiting forever
  // Release the guard before restart(): dropping the last work stops the io_context again.
  guard.reset();
  io_.restart();
}

}  // namespace lesson015
