// Lesson 026: WebSockets. The handshake (an HTTP upgrade), the message loop (receive(): frames
// into messages, each violation closed with its code), the closing handshake, the keepalive.
// Per connection three coroutines share one State: whoever calls receive() (the only reader),
// writer() (lesson 012's WriteQueue: the only writer, so frames never interleave), keepalive().
#include "ws.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "timeouts.hpp"            // lesson 014: sleep()
#include "ws_how_it_is_built.hpp"  // frames, UTF-8, SHA-1 + base64, HTTP heads, State

namespace lesson026 {

using namespace asio::experimental::awaitable_operators;

// ------------------------------------------------------------------------- the handshake

asio::awaitable<WebSocket> WebSocket::connect(std::string host, std::string port,
                                              std::string path, Options options) {
  auto tcp_client = co_await lesson012::LineClient::connect(host, port);  // resolve, connect
  tcp::socket socket = std::move(tcp_client.socket());

  // The client's half: a GET with Upgrade and a random key...
  const std::string key = random_key();
  const std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, port, key);
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  // ...and the proof that the server speaks WebSocket: it hashed OUR key.
  std::string head, rest;
  co_await read_head(socket, head, rest);
  const auto response = parse_head(head);
  if (!response || !response->first_line.starts_with("HTTP/1.1 101"))
    throw HandshakeError("the server refused the upgrade: " + head.substr(0, head.find('\r')));
  if (response->header("sec-websocket-accept") != accept_key(key))
    throw HandshakeError("wrong Sec-WebSocket-Accept: not computed from our key");
  co_return start(std::move(socket), std::move(rest), true, options);
}

asio::awaitable<WebSocket> WebSocket::accept(tcp::socket socket, std::string head,
                                             std::string rest, Options options) {
  const auto request = parse_head(head);
  const std::string key = request ? request->header("sec-websocket-key") : "";
  if (!request || !request->has_token("upgrade", "websocket") ||
      !request->has_token("connection", "upgrade") || key.empty() ||
      request->header("sec-websocket-version") != "13") {
    const std::string refusal = "HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n";
    co_await asio::async_write(socket, asio::buffer(refusal), no_throw);
    throw HandshakeError("not a WebSocket upgrade request");
  }
  const std::string response = fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\n\r\n", accept_key(key));
  co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
  co_return start(std::move(socket), std::move(rest), false, options);
}

// A ping every ping_interval; no pong within ping_timeout means the peer is gone (a pulled
// cable sends no FIN: a read would wait forever). Closing the socket ends receive()'s read.
asio::awaitable<void> keepalive(std::shared_ptr<WebSocket::State> s) {
  while (!s->finished) {
    s->keepalive_timer.expires_after(s->options.ping_interval);
    co_await s->keepalive_timer.async_wait(no_throw);
    if (s->finished) break;
    const std::uint64_t pongs_before = s->pongs;
    s->send_frame(opcode::ping, "keepalive");
    s->keepalive_timer.expires_after(s->options.ping_timeout);
    co_await s->keepalive_timer.async_wait(no_throw);
    if (s->finished || s->pongs != pongs_before) continue;
    s->lost = "ping timeout: no pong";
    asio::error_code ignored;
    s->socket.close(ignored);
    break;
  }
}

// ---------------------------------------------------------------------- the message loop

// The RFC's answer to a violation: a close frame with the code (not 1006: the connection is
// gone), then the TCP close.
void fail(WebSocket::State& s, std::uint16_t code, const std::string& reason) {
  if (code != status::abnormal) s.send_close(close_payload(code, reason));
  s.code = code;
  s.reason = reason;
  s.finish();
  throw ConnectionClosed(code, reason);
}

asio::awaitable<std::optional<Message>> WebSocket::receive() {
  State& s = *state_;
  if (s.close_received) co_return std::nullopt;
  if (s.finished) throw ConnectionClosed(s.code ? s.code : status::abnormal, "already closed");
  Message message;
  bool in_message = false;  // between the first frame of a fragmented message and its last
  for (;;) {
    Frame frame;
    try {
      frame = co_await read_frame(s.socket, s.buffer, s.options.max_message - message.data.size());
    } catch (const ProtocolError& e) {  // reserved bits, a long control frame, too big
      fail(s, e.code, e.what());
    } catch (const std::system_error& e) {  // no close frame: the connection just ended
      fail(s, status::abnormal, s.lost.empty() ? "connection lost: " + e.code().message() : s.lost);
    }
    // RFC 6455 5.1: a client masks every frame, a server none.
    if (frame.masked != !s.client)
      fail(s, status::protocol_error, s.client ? "masked frame from the server"
                                               : "unmasked frame from a client");
    switch (frame.opcode) {
      case opcode::ping:  // answered at once, even between the fragments of a message
        s.send_frame(opcode::pong, frame.payload);
        continue;
      case opcode::pong:
        ++s.pongs;  // proof of life for keepalive()
        continue;
      case opcode::close:
        co_return closed_by_peer(s, frame.payload);
      case opcode::text:
      case opcode::binary:
        if (in_message) fail(s, status::protocol_error, "new message inside a fragmented one");
        message.binary = frame.opcode == opcode::binary;
        in_message = true;
        break;
      case opcode::continuation:
        if (!in_message) fail(s, status::protocol_error, "continuation without a message");
        break;
      default:
        fail(s, status::protocol_error, fmt::format("unknown opcode {}", frame.opcode));
    }
    message.data += frame.payload;
    if (!frame.fin) continue;
    if (!message.binary && !valid_utf8(message.data))
      fail(s, status::invalid_data, "invalid UTF-8 in a text message");
    co_return message;
  }
}

asio::awaitable<void> WebSocket::send(Message message) {
  State& s = *state_;
  if (s.close_sent) throw ConnectionClosed(s.code ? s.code : status::abnormal, "closing");
  // Fragments of at most max_frame bytes, pushed together: only control frames may come
  // between them (RFC 6455 5.4), and nothing here can push a data frame in between.
  const std::size_t step = s.options.max_frame > 0 ? s.options.max_frame : 1;
  std::uint8_t op = message.binary ? opcode::binary : opcode::text;
  std::size_t offset = 0;
  while (message.data.size() - offset > step) {
    s.send_frame(op, std::string_view(message.data).substr(offset, step), false);
    offset += step;
    op = opcode::continuation;
  }
  const std::string last = encode_frame(op, std::string_view(message.data).substr(offset), true, s.client);
  const asio::error_code error = co_await s.out.write(last);  // returns once written
  if (error) throw ConnectionClosed(status::abnormal, "connection lost: " + error.message());
}

// --------------------------------------------------------------------- the closing handshake

asio::awaitable<void> WebSocket::close(std::uint16_t code, std::string reason) {
  if (state_->finished) co_return;
  start_close(code, std::move(reason));
  // Until the peer's close frame (messages still on their way are dropped), or close_timeout.
  auto until_answer = [](WebSocket ws) -> asio::awaitable<void> {
    try {
      for (auto message = co_await ws.receive(); message;) message = co_await ws.receive();
    } catch (const ConnectionClosed&) {  // the peer answered with an error code, or vanished
    }
  };
  auto answer = until_answer(*this);
  auto deadline = lesson014::sleep(state_->options.close_timeout);
  co_await (std::move(answer) || std::move(deadline));
  state_->finish();
}

asio::awaitable<void> echo(WebSocket websocket) {
  for (;;) {
    auto message = co_await websocket.receive();
    if (!message) break;  // closed cleanly
    co_await websocket.send(std::move(*message));
  }
}

}  // namespace lesson026
