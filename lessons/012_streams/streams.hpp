// Lesson 012: streams. A real TCP line-echo server and its client, the C++ spelling of
//
//     async def handle(reader, writer):
//         while line := await reader.readline():
//             writer.write(line); await writer.drain()
//         writer.close(); await writer.wait_closed()
//     server = await asyncio.start_server(handle, "127.0.0.1", 0)
//     async with server: await server.serve_forever()
//
// and of `reader, writer = await asyncio.open_connection(host, port)` on the client side.
//
// Where Asio differs from asyncio:
// - There is no StreamReader/StreamWriter pair: a tcp::socket is both, and the buffer that
//   StreamReader keeps inside is yours (a std::string read with asio::async_read_until).
// - asio::dynamic_buffer(s, max) is StreamReader's `limit`: a line longer than `max` fails
//   with asio::error::not_found where asyncio raises LimitOverrunError (ValueError from
//   readline()). Either way memory stays bounded.
// - asyncio's writer.write() copies into the transport's buffer, without limit, and drain()
//   waits only while that buffer is above its high-water mark (64 KiB): it may return with
//   that much still unsent. asio::async_write keeps no buffer of its own: it completes when
//   the kernel has taken every byte, so the data must live until then.
// - End of stream is asio::error::eof, where readline() returns b"" and readexactly()
//   raises IncompleteReadError. StreamReader's other reads: read(n) is
//   socket.async_read_some(asio::buffer(buf)), readexactly(n) is
//   asio::async_read(socket, asio::buffer(buf, n)), readuntil(sep) is async_read_until with
//   a string delimiter.
// - Shutting down is yours to write: Server.close() stops accepting, but the sessions, the
//   idle timeouts and the drain deadline (asyncio 3.13's close_clients()/abort_clients())
//   are the few lines of EchoServer::stop() below.
// - Every wait for a client has a deadline, in both directions: a client that sends nothing,
//   or sends without ever reading its echoes (so that our write cannot finish), is closed
//   after idle_timeout. asyncio's drain() would wait for such a client forever.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "log.hpp"

namespace lesson012 {

using asio::ip::tcp;
using std::chrono::milliseconds;

/// The server's limits: StreamReader's `limit`, an idle timeout, and a drain deadline.
struct ServerOptions {
  /// Longest accepted line, '\n' included. A longer one gets an error line, then the
  /// connection is closed once the client has closed its side (or after idle_timeout).
  std::size_t max_line = 64 * 1024;
  /// A client that sends nothing for this long is told so ("bye: idle for ...") and closed.
  /// The same deadline bounds every write: a client that sends but does not read its echoes
  /// (so that our write cannot finish) is closed after this long, without a goodbye.
  milliseconds idle_timeout = std::chrono::seconds(60);
  /// On stop(): how long echoes already under way may take before their sockets are closed.
  milliseconds shutdown_grace = std::chrono::seconds(2);
  /// Where the server's log lines go, as (task, message). The default prints them at once
  /// (tut::log_line); --serve passes one that never makes the event loop wait for stdout.
  std::function<void(std::string_view, std::string_view)> log = tut::log_line;
};

/// What the server has done so far (read on the io_context's thread).
struct ServerStats {
  std::uint64_t accepted = 0;      ///< connections accepted
  std::uint64_t active = 0;        ///< sessions still running
  std::uint64_t lines_echoed = 0;  ///< complete lines written back
  std::uint64_t too_long = 0;      ///< sessions closed for an over-long line
  std::uint64_t idle_closed = 0;   ///< sessions closed by the idle timeout (either direction)
  std::uint64_t errors = 0;        ///< sessions ended by a socket error (reset, ...)
};

/// A TCP line-echo server: asyncio.start_server(handle, host, port) with its handler.
/// Construct it on an executor (it binds and listens at once, like start_server), then
/// co_await serve(). The object must outlive serve(); everything runs on one executor.
class EchoServer {
 public:
  EchoServer(asio::any_io_executor executor, const tcp::endpoint& endpoint,
             ServerOptions options = {});
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  /// The port it listens on (useful after binding port 0).
  unsigned short port() const;

  /// serve_forever(): accepts connections and runs one session coroutine per client until
  /// stop(); then returns once every session has ended. One session's error never ends
  /// another session or the server. Cancelling serve() (e.g. `serve() || timeout`) is a
  /// stop(): it too returns only once every session has ended, so the server object may be
  /// destroyed as soon as serve() has returned, whatever ended it.
  asio::awaitable<void> serve();

  /// Graceful shutdown, Server.close() + wait_closed() with a deadline: stop accepting,
  /// close idle sessions at once (they are told "bye: server shutting down"), let echoes
  /// already under way finish, and close whatever is left after options.shutdown_grace.
  /// May be called more than once, and from another thread as long as the server object
  /// outlives the call's effect (it runs on the server's executor). serve() returns when done.
  void stop();

  /// Calls stop() on the first SIGINT or SIGTERM, like loop.add_signal_handler(). A second
  /// one, during the grace period, closes the sessions still running at once (asyncio's
  /// abort_clients()). Returns once serve() has returned, whatever stopped it.
  asio::awaitable<void> stop_on_signals();

  const ServerStats& stats() const { return stats_; }

 private:
  struct Session;  // one connection: its socket, its buffer, why it is closing
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> drain();
  asio::awaitable<void> run_session(std::shared_ptr<Session> session);
  asio::awaitable<void> watchdog(std::shared_ptr<Session> session);
  void do_stop();
  void close_all_now();
  template <typename... Args>
  void log(std::string_view task, fmt::format_string<Args...> format, Args&&... args);

  asio::any_io_executor executor_;
  tcp::acceptor acceptor_;
  ServerOptions options_;
  ServerStats stats_;
  std::list<std::shared_ptr<Session>> sessions_;  // the live ones, for stop()
  asio::steady_timer all_closed_;  // "event": cancelled when the last session ends
  asio::signal_set* signals_ = nullptr;  // stop_on_signals()'s, while it waits
  bool stopping_ = false;
  bool hurry_ = false;     // a second signal: no grace period
  bool finished_ = false;  // serve() has returned
  std::uint64_t next_id_ = 1;
};

/// The client side: asyncio.open_connection()'s (reader, writer) in one object.
class LineClient {
 public:
  /// open_connection(host, port): resolve, then try each address until one connects. An IPv6
  /// address may be written in brackets ("[::1]"). Throws std::system_error "cannot connect
  /// to HOST:PORT: <reason>" on failure, std::invalid_argument for a port number > 65535.
  static asio::awaitable<LineClient> connect(std::string host, std::string port);
  explicit LineClient(tcp::socket socket) : socket_(std::move(socket)) {}

  /// writer.write(data) + await writer.drain(): one async_write of all of `data`. It waits
  /// until the kernel has taken every byte; drain() waits only for the high-water mark.
  asio::awaitable<void> write(std::string data);
  /// reader.readline(): the next line with its '\n'; at end of stream, the partial last
  /// line if any, then std::nullopt (asyncio returns b""), without reading the socket again.
  /// Throws on a connection error, e.g. "Connection reset by peer".
  asio::awaitable<std::optional<std::string>> read_line();
  /// writer.write_eof(): shutdown(send). The server sees end of stream, we can still read.
  void write_eof();
  /// writer.close(): closes the socket (a pending operation fails with operation_aborted).
  void close();

  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
  std::string buffer_;  // bytes read past the last line returned (StreamReader's buffer)
  bool at_eof_ = false;  // the server has closed its side: nothing more will come
};

/// One client conversation: connect, send each line and read its echo, half-close, then
/// read until the server closes. Returns what the server sent back, line by line (echoes
/// and any message such as an error line). Throws if the server goes away mid-conversation.
asio::awaitable<std::vector<std::string>> echo_conversation(std::string host, std::string port,
                                                            std::vector<std::string> lines);

/// The `--connect` mode: what is read from `input_fd` (stdin) goes to the server as it comes
/// (no line length limit), and every line the server sends is passed to `print`. At end of
/// input it half-closes and ends when the server has closed too. Returns 0; or 1, with the
/// reason on stderr, if the connection failed, was lost, or was closed by the server before
/// the end of input. `input_fd` is left as it was (blocking, if it was).
asio::awaitable<int> interactive_client(std::string host, std::string port, int input_fd,
                                        std::function<void(std::string_view)> print);

}  // namespace lesson012
