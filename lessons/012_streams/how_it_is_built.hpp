// How it is built: the echo server's machinery, which a learner can skip at this lesson:
// the Session record, the deadlines (the watchdog), the graceful shutdown (stop(), the drain,
// the signals), how a session ends (its goodbye, the over-long-line case), LineClient::
// connect() (address parsing, resolving) and echo_conversation(). Cancellation and
// reset_cancellation_state are taught in 005, per-operation cancellation slots in 018.
// Included by streams.cpp ONLY (it defines functions declared in streams.hpp), so that the
// lesson's coroutines stay in one translation unit.
#pragma once

#include <array>
#include <csignal>
#include <exception>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "run.hpp"
#include "streams.hpp"

namespace lesson012 {

using tut::clock;
// co_await op(no_throw) returns (error_code, result...) instead of throwing: on a network,
// end of stream and resets are normal events, not exceptions.
inline constexpr auto no_throw = compat::as_tuple(asio::use_awaitable);

/// One connection. Shared by its reader, its writer (the WriteQueue), its watchdog, stop().
struct EchoServer::Session {
  Session(tcp::socket s, std::uint64_t number)
      : socket(std::move(s)), out(socket), watchdog(socket.get_executor()), id(number),
        name(fmt::format("session {}", number)) {}

  tcp::socket socket;
  WriteQueue out;                          // every write to `socket` goes through it
  asio::steady_timer watchdog;
  asio::cancellation_signal stop_reading;  // stop() interrupts the read, never a write
  std::uint64_t id;
  std::string name;              // the logger's task name
  std::string buffer;            // StreamReader's buffer, reused for every line of this client
  clock::time_point deadline{};  // when the read or write under way has taken too long
  bool timed_out = false;        // the watchdog (not stop()) interrupted a read or a write
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

asio::awaitable<void> EchoServer::drain() {
  // Wait for the sessions to finish (the last one cancels all_closed_), at most
  // shutdown_grace; then close what is left and wait for those sessions to notice.
  if (!sessions_.empty() && !hurry_) {
    all_closed_.expires_after(options_.shutdown_grace);
    co_await all_closed_.async_wait(no_throw);  // a second signal cancels it too
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
    // idle_timeout: the session's read and write fail with operation_aborted. The next
    // deadline bounds what the session still does (its goodbye).
    session->timed_out = true;
    session->socket.cancel();
    session->deadline = now + options_.idle_timeout;
  }
}

/// How read_lines() ended: the error that stopped it, if any, and the lines echoed.
struct EchoServer::Ending {
  asio::error_code read_error, write_error;
  std::uint64_t lines = 0;
};

/// A new connection: registered (for stop() and broadcast()), counted, logged.
std::shared_ptr<EchoServer::Session> EchoServer::start_session(tcp::socket socket) {
  auto session = std::make_shared<Session>(std::move(socket), next_id_++);
  session->registered = sessions_.insert(sessions_.end(), session);
  ++stats_.accepted;
  ++stats_.active;
  log(session->name, "connected");
  return session;
}

/// The end of read_lines(): log why, send the last words, and for an over-long line make
/// sure they reach the client. Then no more writes: the session's writer ends.
asio::awaitable<void> EchoServer::say_goodbye(std::shared_ptr<Session> session,
                                                     Ending ending) {
  std::string why, goodbye;  // for the log; a last line for the client
  auto read_error = ending.read_error, write_error = ending.write_error;
  if (read_error == asio::error::not_found) {  // asyncio: LimitOverrunError
    why = fmt::format("line too long (max {} bytes)", options_.max_line);
    goodbye = fmt::format("error: {}\n", why);
    ++stats_.too_long;
  } else if (read_error == asio::error::eof) {
    // Like readline() at EOF: a last line without '\n' is still a line; echo it.
    if (!session->buffer.empty()) {
      ++ending.lines;
      ++stats_.lines_echoed;
      session->deadline = clock::now() + options_.idle_timeout;
      co_await session->out.write(session->buffer);
    }
    why = fmt::format("client closed after {} line(s)", ending.lines);
  } else if (read_error && read_error != asio::error::operation_aborted) {
    why = read_error.message();  // connection reset, ...
    ++stats_.errors;
  } else if (write_error && session->timed_out) {
    why = fmt::format("not reading its echoes for {}", tut::seconds(options_.idle_timeout));
    ++stats_.idle_closed;  // no goodbye: it would not read it either
  } else if (write_error) {
    why = write_error.message();
    ++stats_.errors;
  } else if (session->timed_out) {  // the watchdog interrupted the read
    why = fmt::format("idle for {}", tut::seconds(options_.idle_timeout));
    goodbye = fmt::format("bye: idle for {}\n", tut::seconds(options_.idle_timeout));
    ++stats_.idle_closed;
  } else {  // stop()
    why = "server shutting down";
    goodbye = "bye: server shutting down\n";
  }
  log(session->name, "{}: closing", why);
  if (!goodbye.empty()) {
    // Bounded like any write: by the watchdog, and by stop()'s grace period.
    session->deadline = clock::now() + options_.idle_timeout;
    co_await session->out.write(goodbye);
  }
  if (read_error == asio::error::not_found && !stopping_) {
    // Closing a socket with unread input makes the kernel send a reset (RST), and a reset
    // can destroy the error line before the client has read it, typically while the client
    // is still writing the rest of its long line. So send FIN after the line, then read and
    // drop whatever the client still sends until it closes too (at most idle_timeout).
    asio::error_code ignored;
    session->socket.shutdown(tcp::socket::shutdown_send, ignored);
    session->deadline = clock::now() + options_.idle_timeout;
    std::array<char, 4096> dropped;
    for (;;) {
      auto token = asio::bind_cancellation_slot(session->stop_reading.slot(), no_throw);
      auto [error, n] = co_await session->socket.async_read_some(asio::buffer(dropped), token);
      if (error) break;  // eof: the client has closed; or the watchdog, or stop()
    }
  }
  session->out.close();
}

/// After both the reader and the writer have ended: writer.close(), and the bookkeeping.
void EchoServer::end_session(const std::shared_ptr<Session>& session) {
  // asyncio's close() calls no shutdown(), and close() alone would do here too (the
  // descriptor is ours alone); the shutdown only makes the FIN explicit.
  asio::error_code ignored;
  session->socket.shutdown(tcp::socket::shutdown_both, ignored);
  session->socket.close(ignored);
  session->watchdog.cancel();  // its coroutine ends
  sessions_.erase(session->registered);
  --stats_.active;
  if (stopping_ && sessions_.empty()) all_closed_.cancel();  // wake serve()'s drain
}

/// The completion handler of a session: logs what escaped it. One broken session never
/// stops the server (the tut::rethrow idea, minus the rethrow).
inline auto log_failure(std::string name,
                        std::function<void(std::string_view, std::string_view)> log) {
  return [name, log](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      log(name, fmt::format("failed: {}", e.what()));
    } catch (...) {
      log(name, "failed: unknown exception");
    }
  };
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
  // A session waiting for its client's next line is interrupted now (only its read: an
  // echo or a broadcast being written finishes; the session checks stopping_ after it).
  for (auto& session : sessions_) session->stop_reading.emit(asio::cancellation_type::terminal);
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
      hurry_ = true;
      all_closed_.cancel();  // serve()'s drain stops waiting for the grace period
    }
  }
  signals_ = nullptr;
}

// ---------------------------------------------------------------------------------- client

/// "[::1]" is how an IPv6 address is written next to a port; the brackets are not part of it.
inline std::string without_brackets(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host;
}

/// The addresses to try for host:port, as open_connection() finds them.
inline asio::awaitable<std::vector<tcp::endpoint>> endpoints_of(std::string host,
                                                                std::string port) {
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
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [error, results] = co_await resolver.async_resolve(host, port, no_throw);
    if (error) throw std::system_error(error, fmt::format("cannot resolve {}:{}", host, port));
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  co_return endpoints;
}

asio::awaitable<LineClient> LineClient::connect(std::string host, std::string port) {
  host = without_brackets(host);
  auto endpoints = co_await endpoints_of(host, port);  // numeric, or resolved
  tcp::socket socket(co_await asio::this_coro::executor);
  // Tries every address (IPv6, IPv4, ...) in turn until one accepts the connection.
  auto [error, endpoint] = co_await asio::async_connect(socket, endpoints, no_throw);
  if (error) throw std::system_error(error, fmt::format("cannot connect to {}:{}", host, port));
  socket.set_option(tcp::no_delay(true));
  co_return LineClient(std::move(socket));
}

inline std::string without_newline(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

asio::awaitable<std::vector<std::string>> echo_conversation(std::string host, std::string port,
                                                            std::vector<std::string> lines) {
  auto client = co_await LineClient::connect(host, port);
  std::vector<std::string> replies;
  try {
    for (auto& line : lines) {
      co_await client.write(line + "\n");
      auto reply = co_await client.read_line();
      if (!reply) break;  // end of stream: the server went away
      replies.push_back(without_newline(*reply));
      if (replies.back() != line) co_return replies;  // an error line: the server's last word
    }
  } catch (const std::system_error& e) {  // reset or broken pipe
    throw std::runtime_error(fmt::format("the server went away after echoing {} of {} lines: {}",
                                         replies.size(), lines.size(), e.code().message()));
  }
  if (replies.size() < lines.size())
    throw std::runtime_error(fmt::format("the server closed the connection after echoing {} of {} lines",
                                         replies.size(), lines.size()));
  // Half-close: "I have nothing more to send". The server answers by closing its side.
  client.write_eof();
  while (auto extra = co_await client.read_line()) replies.push_back(without_newline(*extra));
  co_return replies;
}

}  // namespace lesson012
