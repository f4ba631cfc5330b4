// How it is built: lesson 019's experiments (see how_it_is_built.hpp). Each builds a fresh
// io_context (or tut::run's), runs a pitfall's bug or fix from pitfalls.cpp, and measures or
// records what happened. Optional reading.
#include "how_it_is_built.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "run.hpp"

namespace lesson019 {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

asio::awaitable<void> fail_after(Clock::duration d, std::string what) {
  co_await tut::sleep(d);
  throw std::runtime_error(what);
}

// ---- 1 ----------------------------------------------------------------------------------------
FailedTask run_failing_task(bool use_rethrow) {
  FailedTask outcome;
  asio::io_context context;
  auto task = [](FailedTask* seen) -> asio::awaitable<void> {
    co_await tut::sleep(1ms);
    seen->task_threw = true;
    throw std::runtime_error("reported");
  };
  start_task(context, task(&outcome), use_rethrow);
  try {
    context.run();
  } catch (const std::exception& e) {
    outcome.run_threw = e.what();
  }
  return outcome;
}

// ---- 2 ----------------------------------------------------------------------------------------
milliseconds worst_stall_while_blocking(bool offload) {
  asio::thread_pool pool(1);
  milliseconds worst{0};
  auto work = [&]() -> asio::awaitable<void> {
    co_await tut::sleep(30ms);  // let the watchdog start ticking
    co_await call_blocking(&pool, offload);
    co_await tut::sleep(30ms);  // give a late watchdog wake-up time to report
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

// ---- 4 ----------------------------------------------------------------------------------------
milliseconds race_duration(bool use_wait_for_one) {
  return tut::run([](bool first_completion) -> asio::awaitable<milliseconds> {
    auto start = Clock::now();
    co_await race_failure_and_success(first_completion);
    co_return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  }(use_wait_for_one));
}

// ---- 5 ----------------------------------------------------------------------------------------
int messages_received_after_close(int n) {
  return tut::run([](int count) -> asio::awaitable<int> {
    Channel channel(co_await asio::this_coro::executor, static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) channel.try_send(asio::error_code{}, i);
    end_stream(channel, false);
    co_return co_await receive_all(&channel);
  }(n));
}

int messages_received_with_end_marker(int n) {
  return tut::run([](int count) -> asio::awaitable<int> {
    Channel channel(co_await asio::this_coro::executor, static_cast<std::size_t>(count) + 1);
    for (int i = 0; i < count; ++i) channel.try_send(asio::error_code{}, i);
    end_stream(channel, true);
    co_return co_await receive_all(&channel);
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
      co_await tut::sleep(10ms);
      close_channel(channel, cancel);
      co_await tut::sleep(200ms);
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
    Channel channel(co_await asio::this_coro::executor, 1);
    channel.try_send(asio::error_code{}, 42);  // the message has arrived...
    int received = co_await receive_or_time_out(&channel, parallel_group);
    co_return received == 42 || channel.try_receive([](asio::error_code, int) {});
  }(use_parallel_group));
}

// ---- 7 ----------------------------------------------------------------------------------------
ShutdownOutcome shut_down_during_work(bool graceful) {
  ShutdownOutcome outcome;
  // Declared before the context: the task's frame, destroyed with the context, still refers
  // to the signal's slot.
  asio::cancellation_signal stop_signal;
  asio::io_context context;
  asio::co_spawn(context, save_after_work(&outcome),
                 asio::bind_cancellation_slot(stop_signal.slot(), tut::rethrow));

  asio::steady_timer shutdown(context, 100ms);
  shutdown.async_wait([&](asio::error_code) { shut_down(context, stop_signal, graceful); });
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
    bool finished = co_await read_lines_until_eof(&reader, &result.lines, stop_at_eof);
    if (!finished) co_return;
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
