// Lesson 019: debugging asynchronous code. Each pitfall: the reproducer, then the fix.
#include "pitfalls.hpp"

#include <memory>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "run.hpp"

namespace lesson019 {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using Channel = asio::experimental::channel<void(asio::error_code, int)>;

namespace {
asio::awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> fail_after(Clock::duration d, std::string what) {
  co_await sleep_for(d);
  throw std::runtime_error(what);
}
}  // namespace

// ---- 1 ----------------------------------------------------------------------------------------
FailedTask run_failing_task(bool use_rethrow) {
  FailedTask outcome;
  asio::io_context context;
  auto task = [&outcome]() -> asio::awaitable<void> {
    co_await sleep_for(1ms);
    outcome.task_threw = true;
    throw std::runtime_error("reported");
  };
  if (use_rethrow)
    asio::co_spawn(context, task, tut::rethrow);  // the fix: run() rethrows it
  else
    asio::co_spawn(context, task, asio::detached);  // the bug: detached ignores the exception
  try {
    context.run();
  } catch (const std::exception& e) {
    outcome.run_threw = e.what();
  }
  return outcome;
}

// ---- 2 ----------------------------------------------------------------------------------------
asio::awaitable<void> watch_loop_lag(milliseconds period, milliseconds threshold,
                                     std::function<void(milliseconds)> on_stall) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto due = Clock::now() + period;
    timer.expires_at(due);
    co_await timer.async_wait(asio::use_awaitable);
    // A timer is late when the loop was busy elsewhere when it expired.
    auto late = std::chrono::duration_cast<milliseconds>(Clock::now() - due);
    if (late > threshold) on_stall(late);
  }
}

milliseconds worst_stall_while_blocking(bool offload) {
  auto blocking_call = [] { std::this_thread::sleep_for(300ms); };
  asio::thread_pool pool(1);
  milliseconds worst{0};
  auto work = [&]() -> asio::awaitable<void> {
    co_await sleep_for(30ms);  // let the watchdog start ticking
    if (offload) {
      // The fix (lesson 017): the loop only waits for the pool; it is free meanwhile.
      auto on_pool = [&]() -> asio::awaitable<void> {
        blocking_call();
        co_return;
      };
      co_await asio::co_spawn(pool, on_pool, asio::use_awaitable);
    } else {
      blocking_call();  // the bug: nothing else on this loop runs for 300 ms
    }
    co_await sleep_for(30ms);  // give a late watchdog wake-up time to report
  };
  std::function<void(milliseconds)> report = [&worst](milliseconds late) {
    worst = std::max(worst, late);
  };
  tut::run([&]() -> asio::awaitable<void> {
    auto working = work();
    auto watching = watch_loop_lag(10ms, 100ms, report);
    co_await (std::move(working) || std::move(watching));
  }());
  return worst;
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
  co_await sleep_for(1ms);  // the caller's temporary is gone by the time we resume
  co_return words_in(text);
}

asio::awaitable<std::size_t> count_words(std::string text) {
  co_await sleep_for(1ms);
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
milliseconds race_duration(bool use_wait_for_one) {
  return tut::run([](bool first_completion) -> asio::awaitable<milliseconds> {
    auto start = Clock::now();
    auto executor = co_await asio::this_coro::executor;
    if (!first_completion) {
      co_await (fail_after(100ms, "fast failure") || sleep_for(300ms));
    } else {
      auto group = asio::experimental::make_parallel_group(
          asio::co_spawn(executor, fail_after(100ms, "fast failure"), compat::deferred),
          asio::co_spawn(executor, sleep_for(300ms), compat::deferred));
      co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    }
    co_return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  }(use_wait_for_one));
}

// ---- 5 ----------------------------------------------------------------------------------------
int messages_received_after_close(int n) {
  return tut::run([](int count) -> asio::awaitable<int> {
    Channel channel(co_await asio::this_coro::executor, static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) channel.try_send(asio::error_code{}, i);
    // The bug, up to Asio 1.26: "no more messages" also throws away the buffered ones. 1.27
    // fixed it, but Debian 12 ships 1.22: code that must work on both cannot rely on close().
    channel.close();
    int received = 0;
    for (;;) {
      auto [error, value] = co_await channel.async_receive(compat::as_tuple(asio::use_awaitable));
      if (error) break;
      ++received;
    }
    co_return received;
  }(n));
}

int messages_received_with_end_marker(int n) {
  return tut::run([](int count) -> asio::awaitable<int> {
    Channel channel(co_await asio::this_coro::executor, static_cast<std::size_t>(count) + 1);
    for (int i = 0; i < count; ++i) channel.try_send(asio::error_code{}, i);
    channel.try_send(asio::error_code{}, -1);  // the fix: the end is a message, queued in order
    int received = 0;
    for (;;) {
      int value = co_await channel.async_receive(asio::use_awaitable);
      if (value == -1) break;
      ++received;
    }
    co_return received;
  }(n));
}

bool waiting_sender_released(bool cancel_first) {
  return tut::run([](bool cancel) -> asio::awaitable<bool> {
    Channel channel(co_await asio::this_coro::executor, 1);
    channel.try_send(asio::error_code{}, 1);  // full now: the next send waits
    bool released = false;
    bool released_in_time = false;
    auto sender = [&]() -> asio::awaitable<void> {
      co_await channel.async_send(asio::error_code{}, 2, compat::as_tuple(asio::use_awaitable));
      released = true;  // completed, with or without an error: the sender is not stuck
    };
    auto closer = [&]() -> asio::awaitable<void> {
      co_await sleep_for(10ms);
      if (cancel) channel.cancel();  // the fix: fails the waiting send with an error...
      channel.close();               // ...where close() alone leaves it waiting forever
      co_await sleep_for(200ms);
      released_in_time = released;
      if (!released) channel.cancel();  // unstick it, or this demo itself would never end
    };
    auto sending = sender();
    auto closing = closer();
    co_await (std::move(sending) && std::move(closing));
    co_return released_in_time;
  }(cancel_first));
}

// ---- 6 ----------------------------------------------------------------------------------------
bool message_survives_timeout_race(bool use_parallel_group) {
  return tut::run([](bool parallel_group) -> asio::awaitable<bool> {
    auto executor = co_await asio::this_coro::executor;
    Channel channel(executor, 1);
    channel.try_send(asio::error_code{}, 42);  // the message has arrived...
    // ...and so has the timeout: a post stands for a timer that expired in the same turn,
    // which makes the race come out the same way every time.
    bool survived = false;
    if (!parallel_group) {
      auto timeout = asio::post(executor, asio::use_awaitable);
      auto receive = channel.async_receive(asio::use_awaitable);
      auto winner = co_await (std::move(timeout) || std::move(receive));
      // The timeout won; the receive had already taken 42 and `||` dropped it.
      survived = winner.index() == 1;
    } else {
      auto group = asio::experimental::make_parallel_group(
          asio::post(executor, compat::deferred), channel.async_receive(compat::deferred));
      auto [order, error, value] =
          co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      // Every child's result is delivered, the loser's too: 42 is in `value`.
      survived = !error && value == 42;
    }
    co_return survived || channel.try_receive([](asio::error_code, int) {});
  }(use_parallel_group));
}

// ---- 7 ----------------------------------------------------------------------------------------
ShutdownOutcome shut_down_during_work(bool graceful) {
  ShutdownOutcome outcome;
  // Declared before the context: the task's frame, destroyed with the context, still refers
  // to the signal's slot.
  asio::cancellation_signal stop_signal;
  asio::io_context context;
  auto task = [&]() -> asio::awaitable<void> {
    try {
      co_await sleep_for(200ms);
      outcome.saved = true;  // the normal end
    } catch (const std::system_error&) {
      outcome.cleanup_ran = true;  // asked to stop: save what we have, then end
      outcome.saved = true;
    }
  };
  asio::co_spawn(context, task, asio::bind_cancellation_slot(stop_signal.slot(), tut::rethrow));

  asio::steady_timer shutdown(context, 100ms);
  shutdown.async_wait([&](asio::error_code) {
    if (graceful) {
      stop_signal.emit(asio::cancellation_type::terminal);  // run() returns once the task ends
    } else {
      context.stop();  // run() returns now; the task is frozen at its co_await
    }
  });
  context.run();
  return outcome;  // with stop(): the frame is destroyed with `context`, its catch never runs
}

// ---- 8 ----------------------------------------------------------------------------------------
LinesRead read_lines(bool stop_at_eof, milliseconds deadline) {
  asio::io_context context;
  // A real connection on 127.0.0.1: connect and accept block only for the loopback handshake.
  asio::ip::tcp::acceptor acceptor(context, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket reader(context);
  asio::ip::tcp::socket peer(context);
  reader.connect(acceptor.local_endpoint());
  acceptor.accept(peer);

  LinesRead result;
  asio::steady_timer give_up(context, deadline);
  give_up.async_wait([&reader](asio::error_code error) {
    if (!error) reader.cancel();  // the read still waiting ends with operation_aborted
  });

  auto read_loop = [&]() -> asio::awaitable<void> {
    std::string buffer;
    auto no_throw = compat::as_tuple(asio::use_awaitable);
    for (;;) {
      auto [error, n] = co_await asio::async_read_until(reader, asio::dynamic_buffer(buffer),
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
        if (!buffer.empty()) result.lines.push_back(std::exchange(buffer, {}));
        if (last_read) break;
        continue;
      }
      if (error) co_return;  // cancelled by the deadline: still waiting
      result.lines.push_back(buffer.substr(0, n - 1));  // the line without its '\n'
      buffer.erase(0, n);
    }
    result.finished = true;
    give_up.cancel();
  };
  // The peer: the last line without its newline, then shutdown(send), which sends the FIN.
  // Both in one step (a plain blocking write of 9 bytes), so they reach the reader together.
  auto send_and_shut_down = [&peer]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, asio::use_awaitable);  // one turn: the reader waits first
    asio::write(peer, asio::buffer(std::string_view("one\nhello")));
    peer.shutdown(asio::ip::tcp::socket::shutdown_send);
  };
  asio::co_spawn(context, read_loop, tut::rethrow);
  asio::co_spawn(context, send_and_shut_down, tut::rethrow);
  context.run();
  return result;
}

}  // namespace lesson019
