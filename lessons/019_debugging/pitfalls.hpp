// Lesson 019: debugging asynchronous code. The mistakes learners hit most, each as a
// reproducer (named for what goes wrong) beside its fix. docs/pitfalls.md lists them all.
//
// asyncio reports never-retrieved task exceptions and never-awaited coroutines even without
// its debug mode; debug mode (PYTHONASYNCIODEBUG=1) adds where each was created and warns about
// slow callbacks (checked on Python 3.11.7). Asio has neither: its tools are
// the sanitizers (the asan and tsan presets), handler tracking (ASIO_ENABLE_HANDLER_TRACKING,
// the TUTORIAL_HANDLER_TRACKING option), and the patterns below.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson019 {

using std::chrono::milliseconds;

// ---- 1. An exception lost in a detached task ------------------------------------------------
/// What the program saw of a task that failed.
struct FailedTask {
  bool task_threw = false;  // the task really reached its `throw`
  std::string run_threw;    // what io_context::run() rethrew; "" when it returned normally
};
/// Spawns a task that throws "reported" and runs the loop. With asio::detached (`use_rethrow`
/// false: the bug) run() returns normally although the task threw: the exception is lost.
/// With tut::rethrow (true: the fix) run() rethrows it.
FailedTask run_failing_task(bool use_rethrow);

// ---- 2. A blocking call stalls the loop -----------------------------------------------------
/// A watchdog: wakes every `period` and calls `on_stall(lateness)` when a wake-up came more
/// than `threshold` late, which means something held the loop (asyncio's slow-callback
/// warning). Runs until cancelled: race it with the work it watches.
asio::awaitable<void> watch_loop_lag(milliseconds period, milliseconds threshold,
                                     std::function<void(milliseconds)> on_stall);
/// Runs a 300 ms blocking call under the watchdog, on the loop itself (`offload` false: the
/// bug) or on a thread pool (`offload` true: the fix). Returns the worst stall reported.
milliseconds worst_stall_while_blocking(bool offload);

// ---- 3. A reference parameter that dangles --------------------------------------------------
/// BUG: takes its argument by reference. Spawned with a temporary, it reads freed memory after
/// the first suspension (ASan reports heap-use-after-free). Only `019_debugging --dangling`
/// calls it, and only the asan build makes the failure certain.
asio::awaitable<std::size_t> count_words_by_reference(const std::string& text);
/// The fix: by value; the coroutine frame owns its copy.
asio::awaitable<std::size_t> count_words(std::string text);
/// Spawns the counter with a temporary string and runs it: by reference (UB) or by value.
std::size_t spawn_word_count_with_temporary(bool by_reference);

// ---- 4. `||` with a branch that throws ------------------------------------------------------
/// A branch that fails after 100 ms raced against one that succeeds after 300 ms. Returns how
/// long the race lasted: with `||` (300 ms: a failure does not end it) or with
/// make_parallel_group + wait_for_one (100 ms: the first completion ends it).
milliseconds race_duration(bool use_wait_for_one);

// ---- 5. A channel closed too early ----------------------------------------------------------
/// Sends `n` messages into a buffered channel, then close()s it; returns how many the
/// receiver still gets. That depends on the Asio release: 0 up to 1.26 (close() discards what
/// is buffered), all `n` from 1.27 (compat::channel_close_keeps_buffered_messages).
int messages_received_after_close(int n);
/// The fix, for every release: an end-of-stream message instead of close(). Returns how many
/// arrive (all `n`).
int messages_received_with_end_marker(int n);
/// A sender waits on a full channel; then close() (`cancel_first` false) or cancel() then
/// close() (true). Returns whether the waiting send completed within 200 ms.
bool waiting_sender_released(bool cancel_first);

// ---- 6. A message lost to a timeout ---------------------------------------------------------
/// `timeout || receive`, where the timeout and a message complete in the same turn of the
/// loop (forced here, so it happens every time). Returns whether the message can still be
/// found afterwards: with `||` it cannot (false); with make_parallel_group's wait_for_one,
/// whose result carries the loser's value too, it can (true).
bool message_survives_timeout_race(bool use_parallel_group);

// ---- 7. io_context::stop() abandons work ----------------------------------------------------
struct ShutdownOutcome {
  bool saved = false;            // the task's final step after its last co_await
  bool cleanup_ran = false;      // its catch block
};
/// A task saves after 200 ms; at 100 ms the program shuts down, either with
/// io_context::stop() (`graceful` false: run() returns at once, the task is frozen mid-way and
/// later destroyed without its catch block running) or by cancelling the task and letting run()
/// return by itself once it has cleaned up (`graceful` true).
ShutdownOutcome shut_down_during_work(bool graceful);

// ---- 8. Reading again after end of stream ---------------------------------------------------
/// What read_lines() got.
struct LinesRead {
  std::vector<std::string> lines;  // every line, the last one (without its '\n') included
  bool finished = false;           // the loop ended by itself; false: a read was still waiting
                                   // when the deadline cancelled it
};
/// Over a real loopback TCP connection, a peer sends "one\nhello" (the last line has no
/// newline) and shuts down its side, so the last bytes and the end of stream (the FIN) arrive
/// together while the reader waits. The reader loops on async_read_until(socket, buffer, '\n').
/// At the end that read returns eof with "hello" still in the buffer, and then:
/// `stop_at_eof` false (the bug): the loop takes "hello" as a line and reads again, to meet eof
/// with an empty buffer. That read never completes (Asio 1.22, 1.30, 1.38 on Linux): after a
/// read has returned end of stream, Asio's reactor waits for the socket's next readiness event
/// before it reads again, and the peer, done, sends none. `deadline` then cancels it.
/// `stop_at_eof` true (the fix): eof ends the loop; what is left in the buffer is the last line.
LinesRead read_lines(bool stop_at_eof, milliseconds deadline);

}  // namespace lesson019
