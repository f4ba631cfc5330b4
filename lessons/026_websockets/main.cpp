// Lesson 026 demo: a WebSocket echo server and its clients on 127.0.0.1, in this process.
// Part 1: the handshake, text and binary messages with 7-, 16- and 64-bit lengths, a message
// sent in fragments, the closing handshake, and a message over the server's limit (1009).
// Part 2: a peer that stops reading (it answers no ping) is found by the server's ping timeout.
// --serve PORT keeps the server up for a browser or Python's websockets client.
#include <cstdio>
#include <cstring>
#include <string>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>
#include <fmt/format.h>

#include "log.hpp"
#include "run.hpp"
#include "timeouts.hpp"  // lesson 014: sleep()
#include "ws.hpp"

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

// A peer that connects, then never calls receive(): nothing reads its socket, so nothing
// answers the server's ping.
asio::awaitable<void> part2() {
  auto executor = co_await asio::this_coro::executor;
  Options keepalive;
  keepalive.ping_interval = 200ms;
  keepalive.ping_timeout = 200ms;
  WebSocketServer server(executor, {asio::ip::make_address("127.0.0.1"), 0}, logged_echo, keepalive);
  auto serving = server.serve();
  auto silent_peer = [](WebSocketServer& s) -> asio::awaitable<void> {
    auto peer = co_await WebSocket::connect("127.0.0.1", std::to_string(s.port()), "/echo");
    tut::log("peer", "connected; it never calls receive(), so it answers no ping");
    co_await lesson014::sleep(1s);  // the server gives up at 0.4 s
    peer.abort();
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
    co_await server.serve();  // until Ctrl-C ends the process
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
