// Tests of exercise 014.2 (exercise.cpp next to this file): read_line_within() on real TCP
// sockets on 127.0.0.1 (lesson014::socket_pair(), an ephemeral port). The test is the peer:
// it writes, then reads, in one coroutine, so what has arrived before each read is certain.
#include <chrono>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "test_support.hpp"
#include "timeouts.hpp"

using namespace std::chrono_literals;

namespace exercise {
struct Connection {
  asio::ip::tcp::socket socket;
  std::string buffer;
};
asio::awaitable<std::string> read_line_within(Connection* connection,
                                              std::chrono::milliseconds limit);
}  // namespace exercise

namespace {
/// The line, or "TimeoutError".
asio::awaitable<std::string> line_or_timeout(exercise::Connection* connection,
                                             std::chrono::milliseconds limit) {
  try {
    auto reading = exercise::read_line_within(connection, limit);
    co_return co_await std::move(reading);
  } catch (const lesson014::TimeoutError&) {
  }
  co_return "TimeoutError";
}

asio::awaitable<void> send(asio::ip::tcp::socket& socket, std::string text) {
  co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
}
}  // namespace

TEST_CASE("a whole line in time comes back; none at all is a TimeoutError") {
  auto outcomes = tut::test::run_within([]() -> asio::awaitable<std::string> {
    auto sockets = co_await lesson014::socket_pair();
    exercise::Connection connection{std::move(sockets.second), {}};
    auto none = co_await line_or_timeout(&connection, 50ms);
    co_await send(sockets.first, "hello\n");
    auto line = co_await line_or_timeout(&connection, 2000ms);
    co_return none + ", " + line;
  }(), 10s);
  CHECK(outcomes == "TimeoutError, hello");
}

TEST_CASE("a partial line read before the deadline is kept: the next read completes it") {
  auto outcomes = tut::test::run_within([]() -> asio::awaitable<std::string> {
    auto sockets = co_await lesson014::socket_pair();
    exercise::Connection connection{std::move(sockets.second), {}};
    co_await send(sockets.first, "hel");  // arrives at once, and then nothing for 100 ms
    auto first = co_await line_or_timeout(&connection, 100ms);
    co_await send(sockets.first, "lo\n");
    auto second = co_await line_or_timeout(&connection, 2000ms);
    co_return first + ", " + second;
  }(), 10s);
  INFO("sent \"hel\", read with a 100 ms limit, sent \"lo\\n\", read again; expected a timeout "
       "and then \"hello\": the bytes the timed-out read had received must not be lost");
  CHECK(outcomes == "TimeoutError, hello");
}

TEST_CASE("two lines that arrive together: the second is kept for the next read") {
  auto outcomes = tut::test::run_within([]() -> asio::awaitable<std::string> {
    auto sockets = co_await lesson014::socket_pair();
    exercise::Connection connection{std::move(sockets.second), {}};
    co_await send(sockets.first, "one\ntwo\n");
    auto first = co_await line_or_timeout(&connection, 2000ms);
    auto second = co_await line_or_timeout(&connection, 500ms);
    co_return first + ", " + second;
  }(), 10s);
  CHECK(outcomes == "one, two");
}
