// Lesson 012: streams. A TCP line-echo server and client on real sockets.
//
// The server is three small coroutines per program and two per client:
//   serve()          the accept loop (asyncio.start_server): one session per connection
//   run_session()    read a line, write it back, until the client leaves (the handler)
//   watchdog()       closes a session whose client sends nothing, or takes nothing, too long
// plus stop(), the graceful shutdown. Everything runs on one executor, so the sessions share
// the server's bookkeeping without locks, exactly like asyncio tasks on one event loop.
#include "streams.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <asio/buffers_iterator.hpp>
#include <asio/connect.hpp>
#include <asio/co_spawn.hpp>
#include <asio/dispatch.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson012 {

using asio::use_awaitable;
using tut::clock;
// co_await op(as_tuple(use_awaitable)) returns (error_code, result...) instead of throwing:
// on a network, end of stream and resets are normal events, not exceptions.
constexpr auto no_throw = compat::as_tuple(use_awaitable);

// ---------------------------------------------------------------------------------- server

/// The end of a line, for async_read_until's match-condition form: "where does the first
/// line end, if it is there yet?" The same answer as the plain '\n' overload, found faster:
/// that overload steps a generic buffers_iterator byte by byte (a seventh of the server's
/// user-space instructions in a profile, docs/performance.md); memchr() scans them in one call.
struct EndOfLine {
  // A std::string's dynamic buffer is one contiguous block: its iterators are over a single
  // const_buffer, so the bytes between `begin` and `end` are plain memory.
  using Iterator = asio::buffers_iterator<asio::const_buffer>;
  using result_type = std::pair<Iterator, bool>;  // tells Asio this is a match condition

  result_type operator()(Iterator begin, Iterator end) const {
    if (begin == end) return {end, false};
    const char* first = &*begin;
    const void* newline = std::memchr(first, '\n', static_cast<std::size_t>(end - begin));
    if (!newline) return {end, false};  // not yet: read more, search only the new bytes
    return {begin + (static_cast<const char*>(newline) - first + 1), true};
  }
};

/// One connection. Shared by its session coroutine, its watchdog and stop().
struct EchoServer::Session {
  Session(tcp::socket s, std::uint64_t number)
      : socket(std::move(s)), watchdog(socket.get_executor()), id(number),
        name(fmt::format("session {}", number)) {}

  tcp::socket socket;
  asio::steady_timer watchdog;
  std::uint64_t id;
  std::string name;             // the logger's task name
  std::string buffer;           // StreamReader's buffer, reused for every line of this client
  clock::time_point deadline{};  // when the read or write under way has taken too long
  bool reading = false;         // waiting in async_read_until for the client's next line
  bool timed_out = false;       // the watchdog (not stop()) interrupted a read or a write
  std::list<std::shared_ptr<Session>>::iterator registered;  // our place in sessions_
};

template <typename... Args>
void EchoServer::log(std::string_view task, fmt::format_string<Args...> format, Args&&... args) {
  options_.log(task, fmt::format(format, std::forward<Args>(args)...));
}

EchoServer::EchoServer(asio::any_io_executor executor, const tcp::endpoint& endpoint,
                       ServerOptions options)
    : executor_(executor), acceptor_(executor), options_(options), all_closed_(executor) {
  // What start_server() does: socket, SO_REUSEADDR, bind, listen. Errors throw at once.
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

unsigned short EchoServer::port() const { return acceptor_.local_endpoint().port(); }

asio::awaitable<void> EchoServer::serve() {
  // The sessions use `this`: serve() must not return while one still runs, whatever ends the
  // accept loop: stop(), an exception, or the cancellation of serve() itself.
  std::exception_ptr failure;
  try {
    co_await accept_loop();
  } catch (...) {
    failure = std::current_exception();  // no co_await inside a catch block: drain below
  }
  do_stop();
  // A cancelled coroutine's next co_await throws at once (throw_if_cancelled), and a second
  // cancellation would cut the drain short: from here on, serve() ignores cancellation. The
  // drain is bounded anyway, by shutdown_grace.
  co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
  co_await drain();
  finished_ = true;
  asio::error_code ignored;
  if (signals_) signals_->cancel(ignored);  // stop_on_signals() has nothing left to do
  if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> EchoServer::accept_loop() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(no_throw);
    if (error == asio::error::operation_aborted) break;  // stop(), or serve() was cancelled
    if (error) {
      // E.g. EMFILE, out of file descriptors: the server keeps running. Pause briefly
      // instead of retrying in a tight loop that would spin the CPU.
      log("server", "accept failed: {}", error.message());
      asio::steady_timer pause(executor_, milliseconds(100));
      co_await pause.async_wait(no_throw);
      continue;
    }
    // Small writes go out at once instead of waiting for the previous one's ACK (Nagle's
    // algorithm + delayed ACKs can stall a request-response protocol by ~40 ms a message).
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);

    auto session = std::make_shared<Session>(std::move(socket), next_id_++);
    session->registered = sessions_.insert(sessions_.end(), session);
    ++stats_.accepted;
    ++stats_.active;
    log(session->name, "connected");
    // One coroutine per connection, like start_server() creating a task per client. Its
    // completion handler logs what escaped it: one broken session never stops the server
    // (the tut::rethrow idea, minus the rethrow).
    auto name = session->name;
    asio::co_spawn(executor_, run_session(session),
                   [name, log = options_.log](std::exception_ptr failure) {
                     if (!failure) return;
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& e) {
                       log(name, fmt::format("failed: {}", e.what()));
                     } catch (...) {
                       log(name, "failed: unknown exception");
                     }
                   });
    asio::co_spawn(executor_, watchdog(session), tut::rethrow);
  }
}

asio::awaitable<void> EchoServer::drain() {
  // Wait for the sessions to finish (the last one cancels all_closed_), at most
  // shutdown_grace; then close what is left and wait for those sessions to notice.
  if (!sessions_.empty() && !hurry_) {
    all_closed_.expires_after(options_.shutdown_grace);
    co_await all_closed_.async_wait(no_throw);  // close_all_now() cancels it too
  }
  if (!sessions_.empty()) {
    log("server", "closing {} session(s) now", sessions_.size());
    for (auto& session : sessions_) {
      asio::error_code ignored;
      session->socket.close(ignored);  // its pending read or write fails: the session ends
    }
    all_closed_.expires_at(clock::time_point::max());
    co_await all_closed_.async_wait(no_throw);
  }
}

asio::awaitable<void> EchoServer::run_session(std::shared_ptr<Session> session) {
  auto& socket = session->socket;
  std::uint64_t lines = 0;
  std::string why;      // how it ended, for the log
  std::string goodbye;  // a last line to send the client, if any
  bool too_long = false;
  try {
    for (;;) {
      // The watchdog or stop() may have decided while we were echoing (or before we began).
      if (stopping_ || session->timed_out) break;
      session->deadline = clock::now() + options_.idle_timeout;  // for the client to send
      session->reading = true;
      // reader.readline() with a limit: reads into the session's buffer until EndOfLine
      // finds a '\n'; n counts the bytes up to and including it. The buffer keeps whatever the
      // client sent after that line, for the next round.
      auto [error, n] = co_await asio::async_read_until(
          socket, asio::dynamic_buffer(session->buffer, options_.max_line), EndOfLine{}, no_throw);
      session->reading = false;

      if (error == asio::error::not_found) {  // asyncio: LimitOverrunError
        why = fmt::format("line too long (max {} bytes)", options_.max_line);
        goodbye = fmt::format("error: line too long (max {} bytes)\n", options_.max_line);
        too_long = true;
        ++stats_.too_long;
        break;
      }
      if (error == asio::error::operation_aborted) break;  // the watchdog or stop()
      if (error == asio::error::eof) {
        // Like readline() at EOF: a last line without '\n' is still a line; echo it.
        if (!session->buffer.empty()) {
          ++lines;
          ++stats_.lines_echoed;
          session->deadline = clock::now() + options_.idle_timeout;
          co_await asio::async_write(socket, asio::buffer(session->buffer), no_throw);
        }
        why = fmt::format("client closed after {} line(s)", lines);
        break;
      }
      if (error) {  // connection reset, ...: ends this session only
        why = error.message();
        ++stats_.errors;
        break;
      }

      // Echo every complete line already received (one, or several if the client sent
      // them at once) in ONE write: one system call, one TCP segment for short lines.
      // Writing a line in pieces would let Nagle's algorithm hold the second piece back.
      std::size_t end = n;  // usually one line, nothing after it: no need to search again
      if (session->buffer.size() > n) end = session->buffer.rfind('\n') + 1;
      // The same deadline for the client to take the echo: one that sends without ever
      // reading fills the kernel's buffers, and this write would otherwise wait forever.
      session->deadline = clock::now() + options_.idle_timeout;
      auto [write_error, written] = co_await asio::async_write(
          socket, asio::buffer(session->buffer.data(), end), no_throw);
      if (write_error && session->timed_out) {
        why = fmt::format("not reading its echoes for {}", tut::seconds(options_.idle_timeout));
        ++stats_.idle_closed;  // no goodbye: it would not read it either
        break;
      }
      if (write_error) {
        why = write_error.message();
        ++stats_.errors;
        break;
      }
      auto echoed = end == n ? 1 : static_cast<std::uint64_t>(std::count(
          session->buffer.begin(), session->buffer.begin() + end, '\n'));
      lines += echoed;
      stats_.lines_echoed += echoed;
      // erase() keeps the string's capacity: no allocation per line once it has grown.
      session->buffer.erase(0, end);
    }
    if (why.empty() && session->timed_out) {
      why = fmt::format("idle for {}", tut::seconds(options_.idle_timeout));
      goodbye = fmt::format("bye: idle for {}\n", tut::seconds(options_.idle_timeout));
      ++stats_.idle_closed;
    } else if (why.empty()) {
      why = "server shutting down";
      goodbye = "bye: server shutting down\n";
    }
    log(session->name, "{}: closing", why);
    if (!goodbye.empty()) {
      // Bounded like any write: by the watchdog, and by stop()'s grace period.
      session->deadline = clock::now() + options_.idle_timeout;
      co_await asio::async_write(socket, asio::buffer(goodbye), no_throw);
    }
    if (too_long && !stopping_) {
      // Closing a socket with unread input makes the kernel send a reset (RST), and a reset
      // can destroy the error line before the client has read it, typically while the client
      // is still writing the rest of its long line. So send FIN after the line, then read and
      // drop whatever the client still sends until it closes too (at most idle_timeout).
      asio::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      session->deadline = clock::now() + options_.idle_timeout;
      session->reading = true;  // stop() may interrupt this read
      std::array<char, 4096> dropped;
      for (;;) {
        auto [error, n] = co_await socket.async_read_some(asio::buffer(dropped), no_throw);
        if (error) break;  // eof: the client has closed; or the watchdog, or stop()
      }
      session->reading = false;
    }
  } catch (const std::exception& e) {  // e.g. bad_alloc: still this session's problem only
    log(session->name, "failed: {}", e.what());
    ++stats_.errors;
  } catch (...) {  // whatever it was, the cleanup below must run
    log(session->name, "failed: unknown exception");
    ++stats_.errors;
  }

  // writer.close(). asyncio's close() calls no shutdown(), and close() alone would do here too
  // (the descriptor is ours alone); the shutdown only makes the FIN explicit. Errors here mean
  // the peer is gone already.
  asio::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  session->watchdog.cancel();  // its coroutine ends
  sessions_.erase(session->registered);
  --stats_.active;
  if (stopping_ && sessions_.empty()) all_closed_.cancel();  // wake serve()'s drain
}

asio::awaitable<void> EchoServer::watchdog(std::shared_ptr<Session> session) {
  // A deadline, not a timer per line: the session only stores `deadline` before each read
  // and write (cheap), and this coroutine wakes up once per timeout period to look at it.
  for (;;) {
    session->watchdog.expires_at(session->deadline);
    auto [error] = co_await session->watchdog.async_wait(no_throw);
    if (error || !session->socket.is_open()) co_return;  // the session is over
    auto now = clock::now();
    if (now < session->deadline) continue;  // the session moved on since: sleep on
    // The client has sent nothing (we are reading) or taken nothing (we are writing) for
    // idle_timeout: the session's read or write fails with operation_aborted. The next
    // deadline bounds what the session still does (its goodbye).
    session->timed_out = true;
    session->socket.cancel();
    session->deadline = now + options_.idle_timeout;
  }
}

void EchoServer::stop() {
  // dispatch(): runs do_stop() at once when called on the io_context's thread, else queues
  // it there (stop() may come from another thread; the server must still be alive then).
  asio::dispatch(executor_, [this] { do_stop(); });
}

void EchoServer::do_stop() {
  if (stopping_) return;
  stopping_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);  // Server.close(): no new connections; serve()'s accept ends
  for (auto& session : sessions_) {
    // A session waiting for its client's next line is interrupted now. One that is
    // echoing finishes its write first (it checks stopping_ before its next read).
    if (session->reading) session->socket.cancel(ignored);
  }
}

void EchoServer::close_all_now() {
  hurry_ = true;
  all_closed_.cancel();  // serve()'s drain stops waiting for the grace period
}

asio::awaitable<void> EchoServer::stop_on_signals() {
  if (finished_) co_return;
  // loop.add_signal_handler(SIGINT, ...): Asio turns the signal into a completion, so the
  // handler is ordinary code on our executor instead of async-signal-safe code. The set
  // stays installed until serve() returns: a second Ctrl-C during the grace period must
  // not fall back to the default action (killing the process with no message).
  asio::signal_set signals(executor_, SIGINT, SIGTERM);
  signals_ = &signals;
  for (;;) {
    auto [error, signal_number] = co_await signals.async_wait(no_throw);
    if (error) break;  // cancelled: serve() has returned
    auto name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
    if (!stopping_) {
      log("server", "{} received: stop accepting, close idle sessions", name);
      do_stop();
    } else {
      log("server", "{} received again: no grace period", name);
      close_all_now();
    }
  }
  signals_ = nullptr;
}

// ---------------------------------------------------------------------------------- client

asio::awaitable<LineClient> LineClient::connect(std::string host, std::string port) {
  auto executor = co_await asio::this_coro::executor;
  // "[::1]" is how an IPv6 address is written next to a port; the brackets are not part of it.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  bool numeric_port = !port.empty() && port.find_first_not_of("0123456789") == std::string::npos;
  // getaddrinfo() would accept "99999" and silently use it modulo 65536 (port 34463).
  if (numeric_port && (port.size() > 5 || std::stoul(port) > 65535))
    throw std::invalid_argument(fmt::format("invalid port {} (0-65535)", port));
  std::vector<tcp::endpoint> endpoints;
  // Like asyncio, skip the resolver for a numeric address and port ("127.0.0.1", "8080"):
  // getaddrinfo() blocks, so Asio runs it on a background thread of its own.
  asio::error_code not_numeric;
  auto address = asio::ip::make_address(host, not_numeric);
  if (!not_numeric && numeric_port) {
    endpoints.emplace_back(address, static_cast<unsigned short>(std::stoul(port)));
  } else {
    tcp::resolver resolver(executor);
    auto [error, results] = co_await resolver.async_resolve(host, port, no_throw);
    if (error) throw std::system_error(error, fmt::format("cannot resolve {}:{}", host, port));
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  tcp::socket socket(executor);
  // Tries every address (IPv6, IPv4, ...) in turn until one accepts the connection.
  auto [error, endpoint] = co_await asio::async_connect(socket, endpoints, no_throw);
  if (error) throw std::system_error(error, fmt::format("cannot connect to {}:{}", host, port));
  socket.set_option(tcp::no_delay(true));
  co_return LineClient(std::move(socket));
}

asio::awaitable<void> LineClient::write(std::string data) {
  // async_write loops until the kernel has taken every byte: more than write() + drain(),
  // which returns once asyncio's own buffer is below its high-water mark (64 KiB).
  co_await asio::async_write(socket_, asio::buffer(data), use_awaitable);
}

asio::awaitable<std::optional<std::string>> LineClient::read_line() {
  // Once the stream has ended, never read again: with Asio's reactor, a read after the one
  // that returned the last bytes and the end of stream together may never complete.
  if (at_eof_) co_return std::nullopt;
  // 16 MiB: the client's own limit, so a broken server cannot make it use all memory.
  auto [error, n] = co_await asio::async_read_until(
      socket_, asio::dynamic_buffer(buffer_, std::size_t{16} << 20), '\n', no_throw);
  if (error == asio::error::eof) {
    at_eof_ = true;
    if (buffer_.empty()) co_return std::nullopt;  // readline() would return b""
    co_return std::exchange(buffer_, {});         // the partial last line
  }
  if (error) throw std::system_error(error, "read");
  std::string line = buffer_.substr(0, n);
  buffer_.erase(0, n);
  co_return line;
}

void LineClient::write_eof() { socket_.shutdown(tcp::socket::shutdown_send); }

void LineClient::close() {
  asio::error_code ignored;
  socket_.close(ignored);
}

namespace {
std::string without_newline(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}
}  // namespace

asio::awaitable<std::vector<std::string>> echo_conversation(std::string host, std::string port,
                                                            std::vector<std::string> lines) {
  auto client = co_await LineClient::connect(host, port);
  std::vector<std::string> replies;
  std::size_t answered = 0;
  try {
    for (auto& line : lines) {
      co_await client.write(line + "\n");
      auto reply = co_await client.read_line();
      if (!reply) break;  // end of stream: the server went away
      replies.push_back(without_newline(*reply));
      ++answered;
      if (replies.back() != line) co_return replies;  // an error line: the server's last word
    }
  } catch (const std::system_error& e) {  // reset or broken pipe
    throw std::runtime_error(fmt::format("the server went away after echoing {} of {} lines: {}",
                                         answered, lines.size(), e.code().message()));
  }
  if (answered < lines.size())
    throw std::runtime_error(fmt::format(
        "the server closed the connection after echoing {} of {} lines", answered, lines.size()));
  // Half-close: "I have nothing more to send". The server answers by closing its side.
  client.write_eof();
  while (auto extra = co_await client.read_line()) replies.push_back(without_newline(*extra));
  co_return replies;
}

// ------------------------------------------------------------------ the interactive client

namespace {
// stdin -> server, as it comes: no line length limit, a last line without '\n' is sent
// as it is. At end of input, half-close (the server then finishes and closes its side).
asio::awaitable<void> send_input(asio::posix::stream_descriptor* input, LineClient* client,
                                 bool* input_done) {
  std::array<char, 64 * 1024> chunk;
  for (;;) {
    auto [error, n] = co_await input->async_read_some(asio::buffer(chunk), no_throw);
    if (error == asio::error::operation_aborted) co_return;  // the server went away
    if (error) {  // end of input (or an unreadable stdin): nothing more to send
      if (error != asio::error::eof)
        fmt::print(stderr, "cannot read standard input: {}\n", error.message());
      *input_done = true;
      asio::error_code ignored;
      client->socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    auto [write_error, written] =
        co_await asio::async_write(client->socket(), asio::buffer(chunk.data(), n), no_throw);
    if (write_error) co_return;  // print_replies() reports why
  }
}

// server -> print, until the server closes; then stop reading stdin.
asio::awaitable<void> print_replies(LineClient* client, asio::posix::stream_descriptor* input,
                                    std::function<void(std::string_view)> print,
                                    const bool* input_done, bool* failed) {
  try {
    while (auto line = co_await client->read_line()) print(*line);
    if (!*input_done) {  // it closed while we still had input to send
      fmt::print(stderr, "the server closed the connection\n");
      *failed = true;
    }
  } catch (const std::system_error& e) {
    fmt::print(stderr, "connection lost: {}\n", e.code().message());
    *failed = true;
  }
  asio::error_code ignored;
  input->cancel(ignored);  // send_input() stops waiting for stdin
}

// Asio makes a descriptor non-blocking (O_NONBLOCK) to wait for it. That flag belongs to the
// "open file description", which dup() shares: the shell's terminal would stay non-blocking
// after we exit, and the next program to read it would fail with EAGAIN. Opening the same
// file again through /proc gives us a description of our own. (A socket cannot be reopened:
// then share it, and put its flags back when done.)
int open_own_copy(int fd) {
  auto path = fmt::format("/proc/self/fd/{}", fd);
  int own = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return own >= 0 ? own : ::dup(fd);
}
}  // namespace

asio::awaitable<int> interactive_client(std::string host, std::string port, int input_fd,
                                        std::function<void(std::string_view)> print) {
  auto executor = co_await asio::this_coro::executor;
  std::optional<LineClient> client;
  try {
    client.emplace(co_await LineClient::connect(host, port));
  } catch (const std::exception& e) {  // cannot resolve or connect, or an invalid port
    fmt::print(stderr, "{}\n", e.what());
    co_return 1;
  }
  // A stream_descriptor makes stdin one more asynchronous stream on the io_context, so one
  // thread waits for the keyboard and the network at once. It closes its own copy.
  int flags = ::fcntl(input_fd, F_GETFL);
  asio::posix::stream_descriptor input(executor, open_own_copy(input_fd));
  bool input_done = false;
  bool failed = false;
  using namespace asio::experimental::awaitable_operators;
  auto sending = send_input(&input, &*client, &input_done);
  auto receiving = print_replies(&*client, &input, std::move(print), &input_done, &failed);
  co_await (std::move(sending) && std::move(receiving));  // both directions at once
  if (flags != -1) ::fcntl(input_fd, F_SETFL, flags);     // in case it was shared
  co_return failed ? 1 : 0;
}

}  // namespace lesson012
