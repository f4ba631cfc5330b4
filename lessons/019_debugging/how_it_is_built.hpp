// How it is built: the experiments of lesson 019. Each one runs a pitfall's bug or its fix
// (pitfalls.hpp) on a fresh io_context and reports what happened: what the demo prints and
// the tests check. You can skip this file and how_it_is_built.cpp: the lesson is the bug and
// the fix, in pitfalls.hpp and pitfalls.cpp. Included at the end of pitfalls.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "pitfalls.hpp"
#include "sleep.hpp"

namespace lesson019 {

using tut::sleep;  // asyncio.sleep(d), common/sleep.hpp
/// Sleeps for `d`, then throws std::runtime_error(what).
asio::awaitable<void> fail_after(std::chrono::steady_clock::duration d, std::string what);

// ---- 1 ----
/// What the program saw of a task that failed.
struct FailedTask {
  bool task_threw = false;  // the task really reached its `throw`
  std::string run_threw;    // what io_context::run() rethrew; "" when it returned normally
};
/// Starts (start_task) a task that throws "reported" and runs the loop. With asio::detached
/// (`use_rethrow` false: the bug) run() returns normally although the task threw: the
/// exception is lost. With tut::rethrow (true: the fix) run() rethrows it.
FailedTask run_failing_task(bool use_rethrow);

// ---- 2 ----
/// Runs call_blocking() under the watchdog (10 ms ticks, stalls over 100 ms reported), on the
/// loop itself (`offload` false: the bug) or on a thread pool (true: the fix). Returns the
/// worst stall reported.
milliseconds worst_stall_while_blocking(bool offload);

// ---- 4 ----
/// How long race_failure_and_success() lasted: with `||` 300 ms, with wait_for_one 100 ms.
milliseconds race_duration(bool use_wait_for_one);

// ---- 5 ----
/// Sends `n` messages into a buffered channel, then end_stream() with close(); returns how
/// many the receiver still gets. That depends on the Asio release: 0 up to 1.26, all `n` from
/// 1.27 (compat::channel_close_keeps_buffered_messages).
int messages_received_after_close(int n);
/// The same with an end marker: all `n` arrive, on every release.
int messages_received_with_end_marker(int n);
/// A sender waits on a full channel; then close_channel(). Returns whether the waiting send
/// completed within 200 ms.
bool waiting_sender_released(bool cancel_first);

// ---- 6 ----
/// A message has arrived and the timeout expires in the same turn (forced here, so it
/// happens every time); receive_or_time_out(). Returns whether the message can still be found
/// afterwards: with `||` it cannot (false); with the parallel group it can (true).
bool message_survives_timeout_race(bool use_parallel_group);

// ---- 7 ----
/// save_after_work() saves after 200 ms; at 100 ms the program shut_down()s, with
/// io_context::stop() (`graceful` false) or by cancelling the task (true).
ShutdownOutcome shut_down_during_work(bool graceful);

// ---- 8 ----
/// What read_lines() got.
struct LinesRead {
  std::vector<std::string> lines;  // every line, the last one (without its '\n') included
  bool finished = false;           // the loop ended by itself; false: a read was still waiting
                                   // when the deadline cancelled it
};
/// Over a real loopback TCP connection, a peer sends "one\nhello" (the last line has no
/// newline) and shuts down its side, so the last bytes and the end of stream (the FIN) arrive
/// together while read_lines_until_eof() waits. `stop_at_eof` false (the bug): its extra read
/// never completes: after a read has returned end of stream, Asio's reactor waits for the
/// socket's next readiness event before it reads again, and the peer, done, sends none.
/// `deadline` then cancels it. `stop_at_eof` true (the fix): it finishes by itself.
LinesRead read_lines(bool stop_at_eof, milliseconds deadline);

}  // namespace lesson019
