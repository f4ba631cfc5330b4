// Test support for project 029: a server on 127.0.0.1 (ports 0) around a test body, and a
// Person, a chat client on the line protocol (lesson 012's LineClient, what nc does) or on a
// WebSocket (lesson 026's client, what the page does).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <string>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "chat.hpp"
#include "compat.hpp"
#include "streams.hpp"  // lesson 012: LineClient
#include "test_support.hpp"
#include "ws.hpp"       // lesson 026: WebSocket

/// The next line `person` receives must be `text` (std::nullopt: the connection's end).
/// A macro, so that the co_await stays outside CHECK (g++ 12 may run it twice inside).
#define NEXT_IS(person, text)                   \
  do {                                          \
    auto next_line_ = co_await (person).next(); \
    CHECK(next_line_ == (text));                \
  } while (false)

namespace lesson029::test {

using lesson022::Stop;
using namespace std::chrono_literals;

inline const asio::ip::address localhost = asio::ip::make_address("127.0.0.1");

inline asio::awaitable<void> pause(std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

struct Person {
  std::optional<lesson012::LineClient> line;
  std::optional<lesson026::WebSocket> web;

  static asio::awaitable<Person> by_line(unsigned short port) {
    auto client = co_await lesson012::LineClient::connect("127.0.0.1", std::to_string(port));
    co_return Person{std::move(client), std::nullopt};
  }
  static asio::awaitable<Person> by_websocket(unsigned short port) {
    auto websocket = co_await lesson026::WebSocket::connect("127.0.0.1", std::to_string(port), "/chat");
    co_return Person{std::nullopt, websocket};
  }
  /// One line: a WebSocket text message, or the bytes and '\n'.
  asio::awaitable<void> say(std::string text) {
    if (web) {
      co_await web->send_text(std::move(text));
    } else {
      text += '\n';
      co_await line->write(std::move(text));
    }
  }
  asio::awaitable<void> raw(std::string bytes) { co_await line->write(std::move(bytes)); }
  /// The next line without its '\n'; std::nullopt once the server has closed (then we close
  /// too, which the server's goodbye waits for).
  asio::awaitable<std::optional<std::string>> next() {
    std::optional<std::string> got;
    try {
      if (web) {
        auto message = co_await web->receive();
        if (message) got = message->data;
      } else {
        got = co_await line->read_line();
        if (got && !got->empty() && got->back() == '\n') got->pop_back();
      }
    } catch (const std::exception&) {  // a reset, or a close code that is not 1000/1001
      got.reset();
    }
    if (!got && line) line->close();
    co_return got;
  }
  asio::awaitable<void> skip(int count) {
    for (int i = 0; i < count; ++i) co_await next();
  }
  /// Skips lines until one starts with `prefix`; returns it ("" at the end of the connection).
  asio::awaitable<std::string> expect(std::string prefix) {
    for (;;) {
      auto got = co_await next();
      if (!got) co_return "";
      if (got->starts_with(prefix)) co_return *got;
    }
  }
};

/// Runs `body(&server, stop)` next to a ChatServer on 127.0.0.1, then stops the server and
/// waits for it; fails instead of hanging after `limit`.
template <typename Body>
void run_chat(Options options, Body body, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto test = [](Options o, Body b) -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    ChatServer server(executor, {localhost, 0}, {localhost, 0}, o);
    Stop stop(executor);
    auto then_stop = [](ChatServer* s, Stop st, Body inner) -> asio::awaitable<void> {
      co_await inner(s, st);
      st.request();
    };
    auto serving = server.serve(stop);
    auto testing = then_stop(&server, stop, std::move(b));
    using namespace asio::experimental::awaitable_operators;
    co_await (std::move(serving) && std::move(testing));
  };
  tut::test::run_within(test(std::move(options), std::move(body)), limit);
}

/// A raw HTTP request on the web port; returns everything the server answered.
inline asio::awaitable<std::string> http_get(unsigned short port, std::string request) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({localhost, port}, asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string response;
  auto reading = asio::async_read(socket, asio::dynamic_buffer(response),
                                  compat::as_tuple(asio::use_awaitable));
  co_await std::move(reading);
  co_return response;
}

/// Client and server ends live in one process: many connections need many descriptors.
inline void raise_descriptor_limit(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  REQUIRE(limit.rlim_cur >= wanted);
}

}  // namespace lesson029::test
