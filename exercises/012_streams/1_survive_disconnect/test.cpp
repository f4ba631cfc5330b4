// Tests of exercise 012.1 (exercise.cpp next to this file): a real server on 127.0.0.1 spawns
// echo_lines() for each connection with tut::rethrow, and real TCP clients talk to it.
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "run.hpp"
#include "test_support.hpp"

namespace exercise {
asio::awaitable<void> echo_lines(asio::ip::tcp::socket client);
}

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {
// Accepts connections until the acceptor is closed; each one is served by echo_lines(), and an
// exception escaping it comes out of the event loop (the test then fails, saying so).
asio::awaitable<void> serve(std::shared_ptr<tcp::acceptor> acceptor) {
  auto executor = co_await asio::this_coro::executor;
  while (acceptor->is_open()) {
    auto [error, socket] = co_await acceptor->async_accept(compat::as_tuple(asio::use_awaitable));
    if (error) co_return;  // closed by the test
    asio::co_spawn(executor, exercise::echo_lines(std::move(socket)), tut::rethrow);
  }
}

// Connects, sends `text`; if `leave_at_once`, closes without reading, else half-closes and
// returns everything the server sent back until it closed the connection.
asio::awaitable<std::string> client(tcp::endpoint server, std::string text, bool leave_at_once) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
  if (leave_at_once) {
    socket.close();
    co_return "";
  }
  socket.shutdown(tcp::socket::shutdown_send);
  std::string echoed;
  auto [error, n] = co_await asio::async_read(socket, asio::dynamic_buffer(echoed),
                                              compat::as_tuple(asio::use_awaitable));
  (void)n;
  if (error != asio::error::eof) throw std::system_error(error, "reading the echo");
  co_return echoed;
}

// A server, then `first` (which may leave mid-line), then a well-behaved second client.
asio::awaitable<std::string> two_clients(std::string first, bool first_leaves_at_once,
                                         std::string second) {
  auto executor = co_await asio::this_coro::executor;
  auto acceptor = std::make_shared<tcp::acceptor>(executor, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::endpoint server = acceptor->local_endpoint();
  asio::co_spawn(executor, serve(acceptor), tut::rethrow);
  std::string ignored = co_await client(server, std::move(first), first_leaves_at_once);
  (void)ignored;
  std::string echoed = co_await client(server, std::move(second), false);
  acceptor->close();
  co_return echoed;
}

std::string run_server(std::string first, bool first_leaves_at_once, std::string second) {
  try {
    return tut::test::run_within(two_clients(std::move(first), first_leaves_at_once, std::move(second)), 5s);
  } catch (const std::system_error& error) {
    FAIL("the server stopped: an exception escaped echo_lines(): " << error.what()
         << " (error code " << error.code() << "). A client leaving must end only its own connection.");
  }
  return "";
}
}  // namespace

TEST_CASE("echo_lines echoes every line, and a client that says goodbye does not stop the server") {
  std::string echoed = run_server("one\ntwo\n", false, "three\n");
  CHECK(echoed == "three\n");
}

TEST_CASE("a client that disconnects mid-line does not stop the server: the next client is served") {
  std::string echoed = run_server("hello\nwor", true, "again\nand again\n");
  CHECK(echoed == "again\nand again\n");
}

TEST_CASE("a partial last line from a client that half-closes is dropped, the full lines echoed") {
  std::string echoed = run_server("first\n", false, "full\nparti");
  CHECK(echoed == "full\n");
}
