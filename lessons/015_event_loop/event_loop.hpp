// Lesson 015: the event loop. asio::io_context is asyncio's event loop: a queue of ready
// handlers (completion handlers, posted functions, resumed coroutines), timers, and a reactor
// (epoll on Linux) that turns I/O readiness into more ready handlers. Whoever calls run() (or
// run_one(), poll()...) executes those handlers; a coroutine "runs" only inside such a call.
// This lesson drives one by hand; model_loop.hpp (optional) shows one built, in 100 lines.
//
// asyncio                         Asio
//   loop.run_forever()              io.run() + asio::make_work_guard(io)  (run() alone returns
//                                   as soon as no work is left: no handler, timer or I/O)
//   loop.run_until_complete(coro)   co_spawn(io, coro, handler); io.run(), the handler keeping
//                                   the result or exception  (tut::run, common/run.hpp)
//   loop.call_soon(cb)              asio::post(io, cb)
//   loop.call_later(d, cb)          steady_timer t(io, d); t.async_wait(handler)
//   loop.stop()                     io.stop(), then io.restart() before running it again
//   loop.add_signal_handler(s, cb)  asio::signal_set(io, s).async_wait(handler), re-armed
//   asyncio.get_running_loop()      co_await asio::this_coro::executor
// Where Asio differs:
//   - run() returns when it is out of work; asyncio's run_forever() waits for stop().
//   - stop() returns from run() after the current handler; asyncio finishes the current
//     iteration. Either way, what was queued stays queued for the next run.
//   - asio::dispatch() runs a function inline when the caller is already running on the
//     io_context; asyncio has no such call (it always queues, even future callbacks).
//   - Several threads may call run() on one io_context (lesson 017); an asyncio loop has one.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

namespace lesson015 {

/// Where a demo step writes its line: main prints it, a test collects it.
using Say = std::function<void(const std::string&)>;

/// run(): runs handlers until no work is left, returns how many ran, and leaves the
/// io_context stopped: run() returns 0 at once until restart().
void show_run(const Say& say);
/// run_one() (one handler, waiting if needed), poll_one() and poll() (ready handlers only,
/// never wait), run_for() (returns when its time is up even if work remains).
void show_run_one_and_poll(const Say& say);
/// stop() called from a handler: run() returns; the other handlers stay queued until
/// restart() and run() again.
void show_stop_and_restart(const Say& say);
/// asyncio's run_forever(): a work guard keeps run() (on its own thread here) from
/// returning while idle, until the guard is reset.
void show_work_guard(const Say& say);

/// A handler calls post(), dispatch() and defer(). Returns what ran, in order: dispatch runs
/// inline inside the handler, post and defer run after it returns, in the order called.
/// A dispatch() from outside the running loop is queued like a post().
std::vector<std::string> post_dispatch_defer_order();

/// asyncio's add_signal_handler: a signal_set on `signal_number`; the process raises the
/// signal to itself `times` times (each time from a handler, so the demo is deterministic)
/// and the handler, re-armed after each catch, records it. Returns the signal numbers caught.
std::vector<int> catch_raised_signals(int signal_number, int times);

/// Two coroutines, "ping" and "pong", each print then suspend with
/// co_await asio::post(executor, use_awaitable) (asyncio.sleep(0)), `rounds` times. The
/// io_context is driven with run_one() until it returns 0, and each step is recorded, so the
/// trace shows one coroutine resumed per handler, alternating through the FIFO queue.
std::vector<std::string> ping_pong(int rounds);

/// asyncio's loop methods spelled on an io_context (the same names as model::Loop, in
/// model_loop.hpp), so one program, tiny_program(), can run on both and print the same thing.
class AsioLoop {
 public:
  using clock = std::chrono::steady_clock;
  explicit AsioLoop(asio::io_context& io) : io_(io) {}

  /// asio::post: queued behind the handlers already ready.
  void call_soon(std::function<void()> callback);
  /// A steady_timer owned by its own wait handler; fires once `delay` has passed.
  void call_later(clock::duration delay, std::function<void()> callback);
  /// io.stop(): run_forever() returns once the current handler has finished.
  void stop() { io_.stop(); }
  /// run() with a work guard, so it waits for more work instead of returning when idle,
  /// then restart(), so it can run again, like a stopped asyncio loop.
  void run_forever();

 private:
  asio::io_context& io_;
};

}  // namespace lesson015
