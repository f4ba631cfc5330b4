// Lesson 012: streams. A TCP line-echo server and its client, the C++ spelling of
//
//     async def handle(reader, writer):
//         while line := await reader.readline():
//             writer.write(line); await writer.drain()
//     server = await asyncio.start_server(handle, "127.0.0.1", 0)
//
// and of `reader, writer = await asyncio.open_connection(host, port)` on the client side.
//
// Where Asio differs from asyncio:
// - A tcp::socket is reader and writer; the reader's buffer is yours (a std::string read with
//   async_read_until). dynamic_buffer(s, max) is `limit`: longer fails with error::not_found.
// - StreamWriter queues whatever write() gets, from anyone. async_write has no queue: it
//   writes from YOUR memory until the kernel has taken every byte, and Asio allows one
//   async_write per socket at a time (two at once interleave their bytes): hence WriteQueue.
// - End of stream is asio::error::eof, where readline() returns b"". Deadlines (idle_timeout)
//   and shutdown (stop()) are yours to write: how_it_is_built.hpp. Programs: command_line.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "log.hpp"

namespace lesson012 {

using asio::ip::tcp;
using std::chrono::milliseconds;

/// One socket's outgoing messages, written by ONE coroutine, run(): one async_write at a
/// time, in the order they were pushed, whoever pushed them. asyncio's transport buffer.
class WriteQueue {
 public:
  explicit WriteQueue(tcp::socket& socket)
      : socket_(socket), changed_(socket.get_executor(), asio::steady_timer::time_point::max()) {}
  /// writer.write(message): queues it (the queue owns the bytes) and returns at once.
  void push(std::string message);
  /// write() + drain(): queues it, waits until it is written; the writer's error, if any.
  asio::awaitable<asio::error_code> write(std::string message);
  /// The writer, until close() and an empty queue, or until a write fails (its error).
  asio::awaitable<asio::error_code> run();
  void close();  ///< no more messages: run() returns once those queued are written

 private:
  tcp::socket& socket_;
  std::deque<std::string> queue_;  // deque: push_back() never moves the message being written
  asio::steady_timer changed_;     // never expires: cancel() wakes whoever waits on it
  std::uint64_t pushed_ = 0, written_ = 0;
  asio::error_code error_;
  bool closed_ = false;
};

/// The server's limits: the reader's `limit`, an idle timeout, and a drain deadline.
struct ServerOptions {
  std::size_t max_line = 64 * 1024;  ///< longest line, '\n' included; longer: an error line
  /// A client that sends nothing (or takes nothing we write) for this long is closed.
  milliseconds idle_timeout = std::chrono::seconds(60);
  milliseconds shutdown_grace = std::chrono::seconds(2);  ///< on stop(), for echoes under way
  /// Where log lines go, as (task, message). --serve passes one that never blocks.
  std::function<void(std::string_view, std::string_view)> log = tut::log_line;
};

/// What the server has done so far (read on the io_context's thread).
struct ServerStats {
  std::uint64_t accepted = 0, active = 0;  ///< connections accepted, sessions still running
  std::uint64_t lines_echoed = 0;          ///< complete lines written back
  /// Sessions closed for an over-long line, by the idle timeout, by an error (reset, ...).
  std::uint64_t too_long = 0, idle_closed = 0, errors = 0;
};

/// asyncio.start_server(handle, host, port): construct it (it binds and listens at once),
/// then co_await serve(). Everything runs on one executor; the object must outlive serve().
class EchoServer {
 public:
  EchoServer(asio::any_io_executor executor, const tcp::endpoint& endpoint,
             ServerOptions options = {});
  EchoServer(EchoServer&&) = delete;  // no copy, no move: its coroutines hold `this`
  unsigned short port() const;  ///< the port it listens on (useful after binding port 0)

  /// serve_forever(): a session per connection until stop(); returns once every session has
  /// ended, also when serve() itself is cancelled. One session's error ends only it.
  asio::awaitable<void> serve();
  /// Sends `line` to every client between two echoes, never inside one: a second producer
  /// on each socket, through its WriteQueue. Call it on the server's executor.
  void broadcast(std::string line);
  /// Server.close() + wait_closed(): stop accepting, tell idle clients "bye: server shutting
  /// down", let echoes under way finish, close the rest after shutdown_grace. Any thread.
  void stop();
  /// stop() on SIGINT or SIGTERM (loop.add_signal_handler); a second signal closes what is
  /// left at once. Returns once serve() has returned.
  asio::awaitable<void> stop_on_signals();
  const ServerStats& stats() const { return stats_; }

 private:
  struct Session;  // one connection: socket, buffer, WriteQueue, deadline (how_it_is_built)
  struct Ending;   // how its read_lines() ended
  asio::awaitable<void> accept_loop();
  std::shared_ptr<Session> start_session(tcp::socket socket);
  asio::awaitable<void> read_lines(std::shared_ptr<Session> session);
  asio::awaitable<void> say_goodbye(std::shared_ptr<Session> session, Ending ending);
  void end_session(const std::shared_ptr<Session>& session);
  asio::awaitable<void> watchdog(std::shared_ptr<Session> session);
  asio::awaitable<void> drain();
  void do_stop();
  template <typename... Args>
  void log(std::string_view task, fmt::format_string<Args...> format, Args&&... args);

  asio::any_io_executor executor_;
  tcp::acceptor acceptor_;
  ServerOptions options_;
  ServerStats stats_;
  std::list<std::shared_ptr<Session>> sessions_;  // the live ones, for stop() and broadcast()
  asio::steady_timer all_closed_;        // cancelled when the last session ends after stop()
  asio::signal_set* signals_ = nullptr;  // stop_on_signals()'s, while it waits
  bool stopping_ = false, hurry_ = false, finished_ = false;
  std::uint64_t next_id_ = 1;
};

/// The client side: asyncio.open_connection()'s (reader, writer) in one object.
class LineClient {
 public:
  /// open_connection(host, port) ("[::1]" for IPv6). Throws std::system_error "cannot
  /// connect to HOST:PORT: <reason>", std::invalid_argument for a port number > 65535.
  static asio::awaitable<LineClient> connect(std::string host, std::string port);
  explicit LineClient(tcp::socket socket) : socket_(std::move(socket)) {}

  /// writer.write(data) + drain(), and more: completes once the kernel has taken every byte;
  /// drain() returns when asyncio's buffer is below its high-water mark (64 KiB).
  asio::awaitable<void> write(std::string data);
  /// reader.readline(): the next line with its '\n'; at end of stream the partial last line
  /// if any, then std::nullopt, without reading again. Throws on a reset.
  asio::awaitable<std::optional<std::string>> read_line();
  /// writer.write_eof(): shutdown(send), the half-close; we can still read.
  void write_eof() { socket_.shutdown(tcp::socket::shutdown_send); }
  void close();      ///< writer.close()
  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
  std::string buffer_;   // bytes read past the last line returned (StreamReader's buffer)
  bool at_eof_ = false;  // the server has closed its side: nothing more will come
};

/// One conversation (how_it_is_built.hpp): connect, send each line and read its echo,
/// half-close, read until the server closes. Returns what the server sent, line by line.
asio::awaitable<std::vector<std::string>> echo_conversation(std::string host, std::string port,
                                                            std::vector<std::string> lines);

}  // namespace lesson012
