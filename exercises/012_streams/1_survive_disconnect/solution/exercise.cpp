// Exercise 012.1, a solution: the errors that mean "the client has gone" end the connection
// quietly; anything else is rethrown. (No co_await in the catch block: C++ forbids it.)
#include <cstddef>
#include <string>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace exercise {

asio::awaitable<void> echo_lines(asio::ip::tcp::socket client) {
  std::string buffer;
  try {
    while (true) {
      std::size_t length = co_await asio::async_read_until(client, asio::dynamic_buffer(buffer), '\n',
                                                           asio::use_awaitable);
      std::string line = buffer.substr(0, length);
      buffer.erase(0, length);
      co_await asio::async_write(client, asio::buffer(line), asio::use_awaitable);
    }
  } catch (const std::system_error& error) {
    const std::error_code code = error.code();
    if (code == asio::error::eof || code == asio::error::connection_reset ||
        code == asio::error::broken_pipe) {
      co_return;  // the client has gone; a partial last line has nobody to go to
    }
    throw;
  }
}

}  // namespace exercise
