// How it is built: lesson 026's machinery, which a learner can skip: the frame format (encode,
// decode, masking), UTF-8 validation, the handshake's SHA-1 + base64 (OpenSSL's libcrypto),
// the HTTP heads, the connection's State and start() (its writer and TCP close, the 1001 of a
// dropped handle), the checks of a peer's close frame, start_close() and abort() (for project
// 029), and the server's sessions (with the page for a browser). ws.cpp holds the protocol:
// the handshake, the message loop, the closing handshake, the keepalive.
// The WriteQueue and LineClient are lesson 012's, `a || b` is lesson 004's, sleep() 014's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "streams.hpp"  // lesson 012: WriteQueue
#include "ws.hpp"

namespace lesson026 {

inline constexpr auto no_throw = compat::as_tuple(asio::use_awaitable);

namespace opcode {
inline constexpr std::uint8_t continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8,
                              ping = 0x9, pong = 0xA;
}

/// One frame as read: the header bits and the payload, already unmasked.
struct Frame {
  bool fin = true;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::string payload;
};

/// A violation found while reading: the close code to answer with (1002, 1007, 1009).
struct ProtocolError : std::runtime_error {
  ProtocolError(std::uint16_t c, const std::string& what) : std::runtime_error(what), code(c) {}
  std::uint16_t code;
};

/// Reads one frame from `socket` (bytes already read are in `buffer`, which keeps any read past
/// it). Throws ProtocolError for reserved bits (1002), a control frame longer than 125 bytes or
/// fragmented (1002), a data frame longer than `max_payload` (1009: its payload is never read),
/// and std::system_error when the connection ends.
asio::awaitable<Frame> read_frame(tcp::socket& socket, std::string& buffer,
                                  std::size_t max_payload);
/// The bytes of one frame: 7-, 16- or 64-bit length; masked with a fresh random key if `mask`.
std::string encode_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                         bool mask = false);
/// A close frame's payload: the code (2 bytes, big-endian) and the UTF-8 reason.
std::string close_payload(std::uint16_t code, std::string_view reason);
/// A code a peer may send (1000-1003, 1007-1014, 3000-4999): others get 1002.
bool valid_close_code(std::uint16_t code);
/// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text);

/// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), RFC 6455 section 4.2.2.
std::string accept_key(std::string_view client_key);
std::string base64(std::string_view bytes);
std::string random_key();  ///< Sec-WebSocket-Key: 16 random bytes, base64

/// An HTTP/1.1 request or response head, up to the blank line. Header names in lower case.
struct HttpHead {
  std::string first_line;  ///< "GET /chat HTTP/1.1" or "HTTP/1.1 101 Switching Protocols"
  std::map<std::string, std::string> headers;
  std::string header(const std::string& name) const;  ///< "" when absent
  bool has_token(const std::string& name, std::string_view token) const;  ///< comma list
};
std::optional<HttpHead> parse_head(std::string_view head);
/// Reads up to and including "\r\n\r\n" (at most 8 KiB) into `head`; the bytes after it stay
/// in `rest`. Throws HandshakeError when the connection ends first or the head is too long.
asio::awaitable<void> read_head(tcp::socket& socket, std::string& head, std::string& rest);
/// The connection's writer: lesson 012's WriteQueue::run(), then the TCP close: shutdown(send)
/// and read until the peer closes too, at most close_timeout (closing a socket with unread
/// bytes sends a reset, which can destroy the close frame just written).
asio::awaitable<void> writer(std::shared_ptr<WebSocket::State> state);

/// Defined in ws.cpp: the keepalive, and fail(), the RFC's answer to a violation.
asio::awaitable<void> keepalive(std::shared_ptr<WebSocket::State> state);
[[noreturn]] void fail(WebSocket::State& state, std::uint16_t code, const std::string& reason);
/// The peer's close frame: checked (1002, 1007), answered with its code, the TCP connection
/// closed. std::nullopt for 1000, 1001 or no code; ConnectionClosed for any other code.
std::optional<Message> closed_by_peer(WebSocket::State& state, const std::string& payload);

/// One connection's state, shared by the WebSocket handles and its background coroutines
/// (the writer and the keepalive), which keep it alive until they end.
struct WebSocket::State {
  State(tcp::socket s, std::string rest, bool is_client, Options o)
      : socket(std::move(s)), buffer(std::move(rest)), out(socket), client(is_client),
        options(o), keepalive_timer(socket.get_executor()) {}
  tcp::socket socket;
  std::string buffer;         // bytes read and not yet parsed into frames
  lesson012::WriteQueue out;  // the one writer: frames go out whole, in order
  bool client;
  Options options;
  asio::steady_timer keepalive_timer;
  std::uint64_t pongs = 0;     // pongs received: the keepalive compares before and after
  bool close_sent = false, close_received = false, finished = false;
  std::uint16_t code = 0;      // the close code received (or sent on an error)
  std::string reason;
  std::string lost;            // set by the keepalive: why it closed the socket
  /// No more frames: the writer flushes what is queued, then closes the TCP connection.
  void finish() {
    if (finished) return;
    finished = true;
    out.close();
    keepalive_timer.cancel();
  }
  void send_frame(std::uint8_t op, std::string_view payload, bool fin = true) {
    out.push(encode_frame(op, payload, fin, client));  // RFC 6455 5.3: clients mask, always
  }
  void send_close(std::string_view payload) {  // one close frame per connection, the first
    if (!close_sent) send_frame(opcode::close, payload);
    close_sent = true;
  }
};

}  // namespace lesson026
