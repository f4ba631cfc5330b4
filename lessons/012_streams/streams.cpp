// Lesson 012: streams. A TCP line-echo server and client on real sockets. Per client, two
// coroutines: read_lines() (read a line, queue its echo, wait until it is written) and
// WriteQueue::run(), the socket's one writer. broadcast() is a second producer. All on one
// executor: no locks, like asyncio tasks. Deadlines and stop(): how_it_is_built.hpp.
#include "streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>

#include "how_it_is_built.hpp"  // no_throw, Session, watchdog(), stop(), say_goodbye()

namespace lesson012 {

// ------------------------------------------------------------- one socket, one writer

WriteQueue::WriteQueue(tcp::socket& socket)
    : socket_(socket), changed_(socket.get_executor(), clock::time_point::max()) {}

void WriteQueue::push(std::string message) {
  if (closed_ || error_) return;  // nobody would ever write it
  queue_.push_back(std::move(message));
  ++pushed_;
  changed_.cancel();  // wakes run() if it waits for work
}

asio::awaitable<asio::error_code> WriteQueue::write(std::string message) {
  if (closed_) co_return asio::error::operation_aborted;
  push(std::move(message));
  const std::uint64_t mine = pushed_;  // its place in the queue
  while (written_ < mine && !error_) co_await changed_.async_wait(no_throw);
  co_return error_;
}

asio::awaitable<asio::error_code> WriteQueue::run() {
  while (!error_ && !(closed_ && queue_.empty())) {
    if (queue_.empty()) {
      co_await changed_.async_wait(no_throw);  // until push() or close()
      continue;
    }
    // The only async_write on this socket: the next one starts once this one is complete.
    auto [error, n] = co_await asio::async_write(socket_, asio::buffer(queue_.front()), no_throw);
    if (error) {
      error_ = error;  // the connection is broken: nothing more will be written
    } else {
      queue_.pop_front();
      ++written_;
    }
    changed_.cancel();  // wakes write() if it waits for this message
  }
  co_return error_;
}

void WriteQueue::close() {
  closed_ = true;
  changed_.cancel();
}

// ---------------------------------------------------------------------------------- server

asio::awaitable<void> EchoServer::accept_loop() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(no_throw);
    if (error == asio::error::operation_aborted) break;  // stop(), or serve() was cancelled
    if (error) {  // e.g. EMFILE, out of descriptors: keep serving, after a pause (no spinning)
      log("server", "accept failed: {}", error.message());
      asio::steady_timer pause(executor_, milliseconds(100));
      co_await pause.async_wait(no_throw);
      continue;
    }
    // Small writes go out at once instead of waiting for the previous one's ACK (Nagle's
    // algorithm + delayed ACKs can stall a request-response protocol by ~40 ms a message).
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = start_session(std::move(socket));  // registered and logged
    // One task per connection, like start_server(); its errors end only its own session.
    asio::co_spawn(executor_, run_session(session), log_failure(session->name, options_.log));
    asio::co_spawn(executor_, watchdog(session), tut::rethrow);  // its deadlines
  }
}

asio::awaitable<void> EchoServer::run_session(std::shared_ptr<Session> session) {
  // The reader and the writer, side by side; `&&` returns when both have ended: the reader
  // closes the queue when it is done, and the writer ends once the queue is empty.
  using namespace asio::experimental::awaitable_operators;
  auto reader_and_writer = read_lines(session) && session->out.run();
  std::exception_ptr failure;  // whatever happened, the session must be forgotten
  try {
    co_await std::move(reader_and_writer);
  } catch (...) {  // e.g. bad_alloc
    failure = std::current_exception();
    ++stats_.errors;
  }
  end_session(session);  // close the socket, forget the session (how_it_is_built.hpp)
  if (failure) std::rethrow_exception(failure);  // logged by log_failure()
}

asio::awaitable<void> EchoServer::read_lines(std::shared_ptr<Session> session) {
  Ending ending;  // how the session ended: say_goodbye() tells the client and the log
  while (!stopping_ && !session->timed_out) {  // either may have happened during an echo
    session->deadline = clock::now() + options_.idle_timeout;  // for the client to send
    // reader.readline() with a limit: n counts the bytes up to and including the '\n'; the
    // buffer keeps what came after, for the next round. stop() interrupts it (018's slots).
    auto token = asio::bind_cancellation_slot(session->stop_reading.slot(), no_throw);
    auto [error, n] = co_await asio::async_read_until(
        session->socket, asio::dynamic_buffer(session->buffer, options_.max_line), '\n', token);
    // not_found: a line longer than max_line (asyncio's LimitOverrunError); eof: the client
    // closed (a last line without '\n' is still echoed); operation_aborted: stop() or the
    // watchdog; anything else (a reset...) ends this session only.
    if (error) {
      ending.read_error = error;
      break;
    }
    // The echo: a copy of the line (the queue owns its bytes), queued and awaited, so a client
    // that does not read holds up only itself, and the same deadline bounds that wait.
    session->deadline = clock::now() + options_.idle_timeout;
    ending.write_error = co_await session->out.write(session->buffer.substr(0, n));
    if (ending.write_error) break;
    ++ending.lines;
    ++stats_.lines_echoed;
    session->buffer.erase(0, n);  // keeps the string's capacity for the next line
  }
  co_await say_goodbye(session, ending);  // then closes the queue: the writer ends
}

void EchoServer::broadcast(std::string line) {
  // Pushed, not awaited: one slow client must not hold up the others. A client that reads
  // nothing is closed by its watchdog within idle_timeout, which bounds its queue.
  for (auto& session : sessions_) session->out.push(line);
  log("server", "broadcast to {} session(s)", sessions_.size());
}

// ---------------------------------------------------------------------------------- client

asio::awaitable<void> LineClient::write(std::string data) {
  // async_write loops until the kernel has taken every byte: more than write() + drain(),
  // which returns once asyncio's own buffer is below its high-water mark (64 KiB).
  co_await asio::async_write(socket_, asio::buffer(data), asio::use_awaitable);
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

}  // namespace lesson012
