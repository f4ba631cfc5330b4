// Exercise 014.2, a solution: the bytes go into connection->buffer, which outlives every read.
// A read the deadline cancels leaves what it received there, and the next read continues it;
// what came after the '\n' stays there for the next line (lesson 014's LineReader).
#include <chrono>
#include <cstddef>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>

#include "timeouts.hpp"

namespace exercise {

using std::chrono::milliseconds;

struct Connection {
  asio::ip::tcp::socket socket;
  std::string buffer;  // bytes received but not yet returned as a line
};

asio::awaitable<std::string> read_line(Connection* connection) {
  // async_read_until returns at once if the buffer already holds a '\n'.
  std::size_t length = co_await asio::async_read_until(
      connection->socket, asio::dynamic_buffer(connection->buffer), '\n', asio::use_awaitable);
  std::string line = connection->buffer.substr(0, length - 1);
  connection->buffer.erase(0, length);  // no co_await between taking and erasing
  co_return line;
}

asio::awaitable<std::string> read_line_within(Connection* connection, milliseconds limit) {
  auto reading = read_line(connection);
  co_return co_await lesson014::with_timeout(std::move(reading), limit);
}

}  // namespace exercise
