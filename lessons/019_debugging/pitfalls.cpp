// Lesson 019: debugging asynchronous code. Each pitfall: the bug, then the fix. sleep() is
// the tutorial's asyncio.sleep (common/sleep.hpp); fail_after() (a timer, then a throw) comes
// from how_it_is_built.hpp.
#include "pitfalls.hpp"

#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "run.hpp"

namespace lesson019 {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

// ---- 1 ----------------------------------------------------------------------------------------
void start_task(asio::io_context& context, asio::awaitable<void> task, bool use_rethrow) {
  if (use_rethrow)
    asio::co_spawn(context, std::move(task), tut::rethrow);  // the fix: run() rethrows it
  else
    asio::co_spawn(context, std::move(task), asio::detached);  // the bug: the exception is dropped
}

// ---- 2 ----------------------------------------------------------------------------------------
asio::awaitable<void> watch_loop_lag(milliseconds period, milliseconds threshold,
                                     std::function<void(milliseconds)> on_stall) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto due = std::chrono::steady_clock::now() + period;
    timer.expires_at(due);
    co_await timer.async_wait(asio::use_awaitable);
    // A timer is late when the loop was busy elsewhere when it expired.
    auto late = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - due);
    if (late > threshold) on_stall(late);
  }
}

asio::awaitable<void> call_blocking(asio::thread_pool* pool, bool offload) {
  auto blocking_call = [] { std::this_thread::sleep_for(300ms); };
  if (!offload) {
    blocking_call();  // the bug: nothing else on this loop runs for 300 ms
    co_return;
  }
  // The fix (lesson 017): the loop only waits for the pool; it is free meanwhile.
  auto on_pool = [blocking_call]() -> asio::awaitable<void> {
    blocking_call();
    co_return;
  };
  co_await asio::co_spawn(*pool, on_pool, asio::use_awaitable);
}

// ---- 3 ----------------------------------------------------------------------------------------
namespace {
std::size_t words_in(const std::string& text) {
  std::istringstream in(text);
  std::size_t words = 0;
  for (std::string word; in >> word;) ++words;
  return words;
}
}  // namespace

asio::awaitable<std::size_t> count_words_by_reference(const std::string& text) {
  co_await sleep(1ms);  // the caller's temporary is gone by the time we resume
  co_return words_in(text);
}

asio::awaitable<std::size_t> count_words(std::string text) {
  co_await sleep(1ms);
  co_return words_in(text);
}

std::size_t spawn_word_count_with_temporary(bool by_reference) {
  asio::io_context context;
  // Longer than the small-string buffer, so the text lives on the heap and ASan sees the
  // use after free.
  auto text = [] { return std::string("the quick brown fox jumps over the lazy dog, twice over"); };
  auto counted = by_reference
                     ? asio::co_spawn(context, count_words_by_reference(text()), asio::use_future)
                     : asio::co_spawn(context, count_words(text()), asio::use_future);
  // Here, at the end of the full expression above, the temporary string has been destroyed.
  context.run();
  return counted.get();
}

// ---- 4 ----------------------------------------------------------------------------------------
asio::awaitable<void> race_failure_and_success(bool use_wait_for_one) {
  auto executor = co_await asio::this_coro::executor;
  if (!use_wait_for_one) {
    co_await (fail_after(100ms, "fast failure") || sleep(300ms));  // the bug
  } else {
    auto group = asio::experimental::make_parallel_group(
        asio::co_spawn(executor, fail_after(100ms, "fast failure"), compat::deferred),
        asio::co_spawn(executor, sleep(300ms), compat::deferred));
    co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  }
}

// ---- 5 ----------------------------------------------------------------------------------------
void end_stream(Channel& channel, bool end_marker) {
  if (end_marker)
    channel.try_send(asio::error_code{}, -1);  // the fix: the end is a message, queued in order
  else
    channel.close();  // the bug, up to 1.26: "no more messages" also drops the buffered ones
}

asio::awaitable<int> receive_all(Channel* channel) {
  int received = 0;
  for (;;) {
    auto [error, value] = co_await channel->async_receive(compat::as_tuple(asio::use_awaitable));
    if (error || value == -1) break;
    ++received;
  }
  co_return received;
}

void close_channel(Channel& channel, bool cancel_first) {
  if (cancel_first) channel.cancel();  // the fix: fails the waiting send with an error...
  channel.close();                      // ...where close() alone leaves it waiting forever
}

// ---- 6 ----------------------------------------------------------------------------------------
asio::awaitable<int> receive_or_time_out(Channel* channel, bool use_parallel_group) {
  auto executor = co_await asio::this_coro::executor;
  // A post stands for a timer that expires in the same turn as the message arrives, which
  // makes the race come out the same way every time.
  if (!use_parallel_group) {
    auto timeout = asio::post(executor, asio::use_awaitable);
    auto receive = channel->async_receive(asio::use_awaitable);
    auto winner = co_await (std::move(timeout) || std::move(receive));
    // The timeout won; the receive had already taken the message and `||` dropped it.
    co_return winner.index() == 1 ? std::get<1>(winner) : -1;
  }
  auto group = asio::experimental::make_parallel_group(asio::post(executor, compat::deferred),
                                                       channel->async_receive(compat::deferred));
  auto [order, error, value] =
      co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  // Every child's result is delivered, the loser's too: the message is in `value`.
  co_return error ? -1 : value;
}

// ---- 7 ----------------------------------------------------------------------------------------
asio::awaitable<void> save_after_work(ShutdownOutcome* outcome) {
  try {
    co_await sleep(200ms);
    outcome->saved = true;  // the normal end
  } catch (const std::system_error&) {
    outcome->cleanup_ran = true;  // asked to stop: save what we have, then end
    outcome->saved = true;
  }
}

void shut_down(asio::io_context& context, asio::cancellation_signal& stop_signal, bool graceful) {
  if (graceful)
    stop_signal.emit(asio::cancellation_type::terminal);  // run() returns once the task ends
  else
    context.stop();  // the bug: run() returns now; the task is frozen at its co_await
}

// ---- 8 ----------------------------------------------------------------------------------------
asio::awaitable<bool> read_lines_until_eof(asio::ip::tcp::socket* socket,
                                           std::vector<std::string>* lines, bool stop_at_eof) {
  std::string buffer;
  auto no_throw = compat::as_tuple(asio::use_awaitable);
  for (;;) {
    auto [error, n] = co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer),
                                                      '\n', no_throw);
    if (error == asio::error::eof) {
      // The fix: end of stream is the end; a partial line left in the buffer is the last.
      // The bug: end the loop only at an eof that leaves the buffer empty. After a partial
      // last line that takes one more read, and it waits forever: the reactor, having seen
      // end of stream, waits for a new readiness event on the socket before reading again,
      // and none comes when the last bytes and the FIN arrived in the same one. (Had the FIN
      // come on its own, the extra read would just see eof again: a bug that shows up only
      // sometimes.)
      bool last_read = stop_at_eof || buffer.empty();
      if (!buffer.empty()) lines->push_back(std::exchange(buffer, {}));
      if (last_read) co_return true;
      continue;
    }
    if (error) co_return false;  // cancelled by the deadline: still waiting
    lines->push_back(buffer.substr(0, n - 1));  // the line without its '\n'
    buffer.erase(0, n);
  }
}

}  // namespace lesson019
