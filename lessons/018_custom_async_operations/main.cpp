// Lesson 018 demo: one operation of our own, used with a callback, a future and a coroutine;
// then a composed operation on a real socket pair, cancelled and fed bad input.
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <fmt/core.h>

#include "compat.hpp"
#include "log.hpp"
#include "messages.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using Socket = asio::local::stream_protocol::socket;

namespace {
void three_tokens() {
  fmt::print("1. async_parse_number with three completion tokens\n");
  asio::io_context context;

  // A callback. The initiating call returns first; the handler runs later, from run().
  lesson018::async_parse_number(context.get_executor(), "42", [](std::error_code e, int n) {
    fmt::print("   callback:      42 -> {} ({})\n", n, e ? e.message() : "ok");
  });
  fmt::print("   (the call returned; the callback has not run yet)\n");
  context.run();

  // use_future: a plain thread blocks on the result while another thread runs the loop.
  context.restart();
  auto guard = asio::make_work_guard(context);
  std::thread loop([&] { context.run(); });
  auto future = lesson018::async_parse_number(context.get_executor(), "7", asio::use_future);
  fmt::print("   use_future:    7 -> {}\n", future.get());
  guard.reset();
  loop.join();

  // use_awaitable: the same operation, awaited. Errors arrive as std::system_error.
  tut::run([]() -> asio::awaitable<void> {
    try {
      auto executor = co_await asio::this_coro::executor;
      co_await lesson018::async_parse_number(executor, "x1", asio::use_awaitable);
    } catch (const std::system_error& e) {
      fmt::print("   use_awaitable: x1 -> error: {} ({})\n", e.code().message(), e.code().category().name());
    }
  }());
}

asio::awaitable<void> messages_over_a_socket_pair() {
  auto executor = co_await asio::this_coro::executor;
  Socket writer(executor), reader(executor);
  asio::local::connect_pair(writer, reader);

  tut::log("writer", "sending 2 messages");
  co_await lesson018::async_write_message(writer, "hello", asio::use_awaitable);
  co_await lesson018::async_write_message(writer, std::string(10'000, 'x'), asio::use_awaitable);
  auto first = co_await lesson018::async_read_message(reader, asio::use_awaitable);
  auto second = co_await lesson018::async_read_message(reader, asio::use_awaitable);
  tut::log("reader", "got \"{}\" and {} bytes", first, second.size());

  // Cancellation through the caller's slot: nothing arrives, so we cancel after 0.1 s.
  asio::cancellation_signal cancel;
  asio::steady_timer timer(executor, 100ms);
  timer.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  tut::log("reader", "waiting for a message that never comes");
  auto [error, text] = co_await lesson018::async_read_message(
      reader, asio::bind_cancellation_slot(cancel.slot(), compat::as_tuple(asio::use_awaitable)));
  tut::log("reader", "cancelled: {}", error == asio::error::operation_aborted);

  // A header announcing 4 GiB: refused before a single body byte is read or allocated.
  const unsigned char huge_header[4] = {0xff, 0xff, 0xff, 0xff};
  co_await asio::async_write(writer, asio::buffer(huge_header), asio::use_awaitable);
  auto [too_long, nothing] = co_await lesson018::async_read_message(
      reader, compat::as_tuple(asio::use_awaitable));
  tut::log("reader", "oversized header: {}", too_long.message());

  writer.close();  // the peer goes away: the next read ends with eof
  auto [eof, empty] = co_await lesson018::async_read_message(reader, compat::as_tuple(asio::use_awaitable));
  tut::log("reader", "peer closed: {}", eof == asio::error::eof);
}
}  // namespace

int main() {
  three_tokens();
  fmt::print("\n2. async_read_message / async_write_message on a socket pair\n");
  tut::reset_clock();
  tut::run(messages_over_a_socket_pair());
}
