// Exercise 014.2: a read with a timeout that loses what it had read (lesson 014, timeouts).
// read_line_within(connection, limit) returns the next '\n'-terminated line from the socket,
// or throws lesson014::TimeoutError if no whole line comes within `limit`; the caller may then
// try again. The starter reads into a buffer that lives in the raced read's own coroutine frame:
// when the deadline cancels the read, the bytes it had already received ("hel" of "hello\n")
// are destroyed with it, and the next call returns "lo". It also throws away whatever came
// after the '\n' in the same read. Keep the received bytes where they outlive any one read.
// Check it: ./tutorial exercise check 014.2   (stuck? ./tutorial exercise hint 014.2)
#include <chrono>
#include <cstddef>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>

#include "timeouts.hpp"  // lesson014::with_timeout, lesson014::TimeoutError

namespace exercise {

using std::chrono::milliseconds;

struct Connection {
  asio::ip::tcp::socket socket;
  std::string buffer;  // bytes received but not yet returned as a line (unused by the starter)
};

/// Reads one line from connection->socket, without its '\n'.
asio::awaitable<std::string> read_line(Connection* connection) {
  // TODO: `received` belongs to this coroutine frame, which the timeout destroys: bytes read
  // before the deadline, and bytes after the '\n', are lost with it. Read into a buffer that
  // outlives this read, and keep in it what you do not return.
  std::string received;
  std::size_t length = co_await asio::async_read_until(
      connection->socket, asio::dynamic_buffer(received), '\n', asio::use_awaitable);
  co_return received.substr(0, length - 1);
}

/// The next line within `limit`, or lesson014::TimeoutError.
asio::awaitable<std::string> read_line_within(Connection* connection, milliseconds limit) {
  auto reading = read_line(connection);  // named before the co_await (g++ 12)
  co_return co_await lesson014::with_timeout(std::move(reading), limit);
}

}  // namespace exercise
