// Exercise 012.1: a line-echo server that survives a client leaving (lesson 012, streams).
// echo_lines() serves one connection: it reads a line, writes it back, and again. When the
// client disconnects (even in the middle of a line), the read fails and the exception escapes:
// with tut::rethrow, as the server spawns each connection, that stops the whole server. A
// client leaving is normal: end that connection quietly. Let any other error go on.
// Check it: ./tutorial exercise check 012.1   (stuck? ./tutorial exercise hint 012.1)
#include <cstddef>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace exercise {

asio::awaitable<void> echo_lines(asio::ip::tcp::socket client) {
  std::string buffer;
  while (true) {
    // TODO: when the client has gone, async_read_until throws std::system_error with
    // asio::error::eof (it closed, maybe mid-line) or connection_reset, and async_write may
    // throw broken_pipe or connection_reset. End this connection quietly on those three;
    // rethrow anything else.
    std::size_t length = co_await asio::async_read_until(client, asio::dynamic_buffer(buffer), '\n',
                                                         asio::use_awaitable);
    std::string line = buffer.substr(0, length);
    buffer.erase(0, length);
    co_await asio::async_write(client, asio::buffer(line), asio::use_awaitable);
  }
}

}  // namespace exercise
