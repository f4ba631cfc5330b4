// Lesson 026 demo: a WebSocket echo server and its clients on 127.0.0.1, in this process.
// Part 1: the handshake, text and binary messages with 7-, 16- and 64-bit lengths, a message
// sent in fragments, the closing handshake, and a message over the server's limit (1009).
// Part 2: a peer that vanishes (it stops answering) is found by the server's ping timeout.
// --serve PORT keeps the server up for a browser or Python's websockets client.
#include <cstdio>
#include <cstring>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/signal_set.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "log.hpp"
#include "run.hpp"
#include "ws.hpp"
#include "ws_how_it_is_built.hpp"  // random_key(), read_head(): the silent peer's handshake

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using namespace lesson026;

namespace {

// The server's handler: lesson026::echo, saying how each session ended.
asio::awaitable<void> logged_echo(WebSocket websocket) {
  try {
    co_await echo(websocket);
    tut::log("server", "the client closed: {}", websocket.close_code());
  } catch (const ConnectionClosed& e) {
    tut::log("server", "session ended: {} ({})", e.code, e.reason);
    throw;
  }
}

asio::awaitable<void> clients(WebSocketServer& server) {
  const std::string port = std::to_string(server.port());
  auto websocket = co_await WebSocket::connect("127.0.0.1", port, "/echo");
  tut::log("client", "connected: 101 Switching Protocols, Sec-WebSocket-Accept checked");
  co_await websocket.send_text("hello");
  auto reply = co_await websocket.receive();
  tut::log("client", "text \"hello\" came back: \"{}\"", reply->data);
  for (std::size_t size : {100, 300, 70'000}) {
    const std::string bytes(size, '\x7f');
    Message message{true, bytes};  // g++ 12: no braced list inside a co_await
    co_await websocket.send(std::move(message));
    reply = co_await websocket.receive();
    tut::log("client", "{} bytes of binary ({}-bit length) came back whole: {}", size,
             size < 126 ? 7 : size <= 0xFFFF ? 16 : 64, reply->data == bytes ? "yes" : "no");
  }
  co_await websocket.close();
  tut::log("client", "closed: {}", websocket.close_code());

  Options small_frames;
  small_frames.max_frame = 5;
  auto fragmenting = co_await WebSocket::connect("127.0.0.1", port, "/echo", small_frames);
  const std::string text = "one message, eight frames of 5 bytes";
  co_await fragmenting.send_text(text);
  reply = co_await fragmenting.receive();
  tut::log("client", "sent in 5-byte fragments, came back as one message: \"{}\"", reply->data);
  co_await fragmenting.close();

  auto greedy = co_await WebSocket::connect("127.0.0.1", port, "/echo");
  tut::log("client", "sends 200000 bytes to a server whose limit is 100000");
  std::string answer;
  try {
    Message too_big{true, std::string(200'000, 'x')};
    co_await greedy.send(std::move(too_big));
    reply = co_await greedy.receive();
  } catch (const ConnectionClosed& e) {
    answer = e.what();
  }
  tut::log("client", "{}", answer);
  server.stop();
}

asio::awaitable<void> part1() {
  auto executor = co_await asio::this_coro::executor;
  Options limits;
  limits.max_message = 100'000;
  WebSocketServer server(executor, {asio::ip::make_address("127.0.0.1"), 0}, logged_echo, limits);
  tut::log("server", "listening on ws://127.0.0.1:{}/", server.port());
  auto serving = server.serve();
  auto talking = clients(server);
  co_await (std::move(serving) && std::move(talking));
}

// A peer that completes the handshake, then never reads again: it answers no ping.
asio::awaitable<void> part2() {
  auto executor = co_await asio::this_coro::executor;
  Options keepalive;
  keepalive.ping_interval = 200ms;
  keepalive.ping_timeout = 200ms;
  WebSocketServer server(executor, {asio::ip::make_address("127.0.0.1"), 0}, logged_echo, keepalive);
  auto serving = server.serve();
  auto silent_peer = [](WebSocketServer& s) -> asio::awaitable<void> {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), s.port()}, asio::use_awaitable);
    const std::string request = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Key: " + random_key() +
                                "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
    std::string head, rest;
    co_await read_head(socket, head, rest);
    tut::log("peer", "handshake done; from now on it reads nothing and answers nothing");
    std::string ignored;  // what the server sends (its ping) until it closes the connection
    auto reading = asio::async_read(socket, asio::dynamic_buffer(ignored), no_throw);
    co_await std::move(reading);  // ends with an error: the server closed the connection
    s.stop();
  };
  auto vanishing = silent_peer(server);
  co_await (std::move(serving) && std::move(vanishing));
}

int serve_forever(unsigned short port) {
  return tut::run([port]() -> asio::awaitable<int> {
    auto executor = co_await asio::this_coro::executor;
    WebSocketServer server(executor, {asio::ip::make_address("127.0.0.1"), port}, logged_echo);
    fmt::print("serving ws://127.0.0.1:{}/ (echo) and http://127.0.0.1:{}/ (a page that echoes "
               "through a WebSocket); Ctrl-C stops\n", server.port(), server.port());
    std::fflush(stdout);
    asio::signal_set signals(executor, SIGINT, SIGTERM);
    auto stop_on_signal = [](asio::signal_set& set, WebSocketServer& s) -> asio::awaitable<void> {
      co_await set.async_wait(asio::use_awaitable);
      s.stop();
    };
    auto serving = server.serve();
    auto stopping = stop_on_signal(signals, server);
    co_await (std::move(serving) && std::move(stopping));
    co_return 0;
  }());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--help") == 0) {
    fmt::print("usage: 026_websockets            the demo (a few seconds)\n"
               "       026_websockets --serve PORT  an echo server on 127.0.0.1:PORT; open\n"
               "           http://127.0.0.1:PORT/ in a browser, or run\n"
               "           /usr/bin/python3 -m websockets ws://127.0.0.1:PORT/\n");
    return 0;
  }
  if (argc > 2 && std::strcmp(argv[1], "--serve") == 0)
    return serve_forever(static_cast<unsigned short>(std::stoi(argv[2])));
  if (argc > 1) {
    fmt::print(stderr, "unknown arguments; --help lists them\n");
    return 2;
  }
  fmt::print("Part 1: an echo server and its clients (handshake, lengths, fragments, limits)\n");
  tut::run(part1());
  fmt::print("\nPart 2: a peer that stops answering, found by the server's ping timeout\n");
  tut::reset_clock();
  tut::run(part2());
  return 0;
}
