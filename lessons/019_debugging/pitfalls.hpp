// Lesson 019: debugging asynchronous code. The mistakes learners hit most, each as its bug
// beside its fix, named for what goes wrong. docs/pitfalls.md lists them all.
//
// asyncio reports never-retrieved task exceptions and never-awaited coroutines even without
// its debug mode; debug mode (PYTHONASYNCIODEBUG=1) adds where each was created and warns about
// slow callbacks (checked on Python 3.11.7). Asio has neither: its tools are
// the sanitizers (the asan and tsan presets), handler tracking (ASIO_ENABLE_HANDLER_TRACKING,
// the TUTORIAL_HANDLER_TRACKING option), and the patterns below.
//
// Read this header and pitfalls.cpp: each pitfall's bug and fix. The experiments that run
// them on a fresh io_context and observe what happens (what the demo prints and the tests
// check: run_failing_task(), race_duration()...) are in how_it_is_built.hpp/.cpp, optional.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/thread_pool.hpp>

namespace lesson019 {

using std::chrono::milliseconds;
using Channel = asio::experimental::channel<void(asio::error_code, int)>;

// ---- 1. An exception lost in a detached task ------------------------------------------------
/// Starts `task` on `context`. The bug (`use_rethrow` false): asio::detached, which drops the
/// task's exception, so run() returns as if all went well. The fix: tut::rethrow; run()
/// rethrows it.
void start_task(asio::io_context& context, asio::awaitable<void> task, bool use_rethrow);

// ---- 2. A blocking call stalls the loop -----------------------------------------------------
/// A watchdog: wakes every `period` and calls `on_stall(lateness)` when a wake-up came more
/// than `threshold` late, which means something held the loop (asyncio's slow-callback
/// warning). Runs until cancelled: race it with the work it watches.
asio::awaitable<void> watch_loop_lag(milliseconds period, milliseconds threshold,
                                     std::function<void(milliseconds)> on_stall);
/// A 300 ms blocking call. The bug (`offload` false): made on the loop, which runs nothing else
/// meanwhile. The fix: made on `pool` (lesson 017) while the loop only waits for it.
asio::awaitable<void> call_blocking(asio::thread_pool* pool, bool offload);

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
/// A branch that fails after 100 ms raced against one that succeeds after 300 ms. The bug:
/// `||`, which a failure does not end (300 ms). The fix: make_parallel_group +
/// wait_for_one, ended by the first completion (100 ms).
asio::awaitable<void> race_failure_and_success(bool use_wait_for_one);

// ---- 5. A channel closed too early ----------------------------------------------------------
/// Ends a stream of messages. The bug (`end_marker` false): close(), which up to Asio 1.26
/// also discards the messages still buffered (compat::channel_close_keeps_buffered_messages).
/// The fix, for every release: an end-of-stream message (-1), queued behind the others.
void end_stream(Channel& channel, bool end_marker);
/// The receiver: counts messages until the channel fails or the end marker arrives.
asio::awaitable<int> receive_all(Channel* channel);
/// The bug (`cancel_first` false): close() alone, which leaves a sender waiting on a full
/// channel waiting forever. The fix: cancel() first, which fails that send with an error.
void close_channel(Channel& channel, bool cancel_first);

// ---- 6. A message lost to a timeout ---------------------------------------------------------
/// `timeout || receive` on `channel`, where a message and the timeout complete in the same
/// turn. Returns the message, or -1 if none arrived. The bug: `||` drops the losing receive,
/// and the message it had taken with it (-1). The fix: make_parallel_group's wait_for_one,
/// whose result carries the loser's value too.
asio::awaitable<int> receive_or_time_out(Channel* channel, bool use_parallel_group);

// ---- 7. io_context::stop() abandons work ----------------------------------------------------
struct ShutdownOutcome {
  bool saved = false;        // the task's final step after its last co_await
  bool cleanup_ran = false;  // its catch block
};
/// A task that saves its work after 200 ms, or in its catch block if it is cancelled first.
asio::awaitable<void> save_after_work(ShutdownOutcome* outcome);
/// Shuts the program down while the task works. The bug (`graceful` false):
/// io_context::stop(): run() returns at once, the task is frozen mid-way and later destroyed
/// without its catch block running. The fix: cancel the task through `stop_signal` and let
/// run() return by itself once it has cleaned up.
void shut_down(asio::io_context& context, asio::cancellation_signal& stop_signal, bool graceful);

// ---- 8. Reading again after end of stream ---------------------------------------------------
/// Reads '\n'-terminated lines from `socket` into `lines` with async_read_until. Returns true
/// when the stream has ended, false if a read failed (a deadline cancelled it). A peer's last
/// line may lack its '\n', so end of stream comes with "hello" still in the buffer. The fix
/// (`stop_at_eof` true): eof ends the loop, what is left is the last line. The bug: take
/// "hello" and read again, to meet eof with an empty buffer. If the bytes and the end of
/// stream came together, that read never completes (Asio 1.22, 1.30, 1.38 on Linux).
asio::awaitable<bool> read_lines_until_eof(asio::ip::tcp::socket* socket,
                                           std::vector<std::string>* lines, bool stop_at_eof);

}  // namespace lesson019

// The experiments the demo and the tests run (run_failing_task() ...): optional reading.
#include "how_it_is_built.hpp"
