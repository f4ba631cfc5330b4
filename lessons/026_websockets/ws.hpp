// Lesson 026: WebSockets (RFC 6455), a client and a server, the C++ spelling of Python's
// `websockets` library:
//
//     async def echo(websocket):
//         async for message in websocket:
//             await websocket.send(message)
//     async with websockets.serve(echo, "127.0.0.1", 0): ...
//     async with websockets.connect("ws://127.0.0.1:8765/") as ws: await ws.send("hi")
//
// A WebSocket is an HTTP/1.1 request that turns into a stream of frames: the client sends
// `Upgrade: websocket` and a random Sec-WebSocket-Key, the server answers 101 with
// Sec-WebSocket-Accept = base64(SHA-1(key + a fixed GUID)). Then both sides send frames:
// text/binary messages (maybe fragmented), ping/pong, and a closing handshake with a status.
//
// Where C++ differs from `websockets`:
// - receive() is the one reader and answers pings: a peer that stops calling it stops
//   answering (websockets reads ahead into a queue, max_queue, and answers while you are busy).
// - recv() raises ConnectionClosedOK / ConnectionClosedError; receive() returns std::nullopt
//   after a clean closing handshake and throws ConnectionClosed (with the code) otherwise.
// - No extensions (permessage-deflate) and no subprotocols: the client does not offer them.
// Frames, masking, UTF-8 and the HTTP parsing are machinery: ws_how_it_is_built.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

namespace lesson026 {

using asio::ip::tcp;
using std::chrono::milliseconds;

/// RFC 6455 7.4.1's status codes. Never sent: 1005 (a close frame without a code) and 1006
/// (the TCP connection just ended).
namespace status {
inline constexpr std::uint16_t normal = 1000, going_away = 1001, protocol_error = 1002,
    no_status = 1005, abnormal = 1006, invalid_data = 1007, too_big = 1009, internal_error = 1011;
}  // namespace status

struct Options {
  std::size_t max_message = 1 << 20;  ///< max_size: a longer message is closed with 1009
  std::size_t max_frame = 1 << 20;    ///< send() splits longer messages into fragments
  milliseconds ping_interval{20'000}, ping_timeout{20'000};  ///< no pong in time: gone (1006)
  milliseconds close_timeout{5'000};  ///< how long close() waits for the peer's close frame
};

struct Message {
  bool binary = false;  ///< text (valid UTF-8, checked) or bytes
  std::string data;
  bool operator==(const Message&) const = default;
};

/// The connection is closed, not cleanly: a protocol error (we sent `code`), the peer closed
/// with an error code, the TCP connection ended without a close frame (1006), a ping timeout.
struct ConnectionClosed : std::runtime_error {
  ConnectionClosed(std::uint16_t code, const std::string& reason);
  std::uint16_t code;
  std::string reason;
};

/// The HTTP upgrade failed (not a 101, a wrong Sec-WebSocket-Accept). A refused TCP
/// connection is lesson 012's std::system_error "cannot connect to HOST:PORT".
struct HandshakeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One WebSocket connection, either side. A cheap handle (copies share the connection).
/// One coroutine at a time calls receive()/close(); send() may be called by any coroutine on
/// the connection's executor (the WriteQueue orders the frames).
class WebSocket {
 public:
  struct State;  // socket, read buffer, WriteQueue, keepalive timer (ws_how_it_is_built.hpp)

  /// websockets.connect("ws://host:port/path"): TCP connect + the client handshake.
  static asio::awaitable<WebSocket> connect(std::string host, std::string port,
                                            std::string path = "/", Options options = {});
  /// The server side of the handshake on an accepted socket whose request (`head`, up to the
  /// blank line) has been read; `rest` holds bytes read past it.
  static asio::awaitable<WebSocket> accept(tcp::socket socket, std::string head,
                                           std::string rest, Options options = {});

  /// recv(): the next message, answering pings and completing a closing handshake on the
  /// way. std::nullopt once the peer has closed cleanly (close code in close_code()).
  asio::awaitable<std::optional<Message>> receive();
  /// send(): one message, split into frames of at most max_frame bytes. Waits until written.
  asio::awaitable<void> send(Message message);
  asio::awaitable<void> send_text(std::string text) { return send({false, std::move(text)}); }
  void ping(std::string payload = {});  ///< ping(): its pong also proves the peer is alive
  /// close(code, reason): the closing handshake, then the TCP connection is closed.
  asio::awaitable<void> close(std::uint16_t code = status::normal, std::string reason = {});
  /// Sends the close frame and returns; the coroutine in receive() gets the answer (029).
  void start_close(std::uint16_t code = status::normal, std::string reason = {});
  /// Closes the TCP connection now, for a peer that reads nothing: receive(), send() fail.
  void abort();

  std::uint16_t close_code() const;  ///< the code received (or sent, on an error); 0 if open

 private:
  explicit WebSocket(std::shared_ptr<State> state) : state_(std::move(state)) {}
  static WebSocket start(tcp::socket socket, std::string rest, bool client, Options options);
  std::shared_ptr<State> state_;
};

/// websockets.serve(handler, host, port): each upgrade request becomes a WebSocket handed to
/// `handler`; a plain GET / gets a little HTML page whose script echoes through a WebSocket.
/// Construct it (it listens at once), co_await serve(), stop() from anywhere on its executor.
class WebSocketServer {
 public:
  using Handler = std::function<asio::awaitable<void>(WebSocket)>;
  WebSocketServer(asio::any_io_executor executor, const tcp::endpoint& endpoint, Handler handler,
                  Options options = {});
  unsigned short port() const;
  asio::awaitable<void> serve();  ///< until stop(); a session's error ends only that session
  void stop();                    ///< stops accepting; sessions under way run to their end

 private:
  // Static: a session may outlive the server object (stop() lets sessions finish).
  static asio::awaitable<void> session(tcp::socket socket, Handler handler, Options options);
  tcp::acceptor acceptor_;
  Handler handler_;
  Options options_;
};

/// The echo handler: every message sent back as it came (the demo's and the tests' server).
asio::awaitable<void> echo(WebSocket websocket);

}  // namespace lesson026
