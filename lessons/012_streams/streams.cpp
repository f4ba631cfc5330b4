// Lesson 012: streams, as streams.hpp describes them. All on one executor: no locks, as in asyncio.
#include "streams.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>

#include "how_it_is_built.hpp"  // no_throw, Session, watchdog(), stop(), say_goodbye()
#include "sleep.hpp"

namespace lesson012 {

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
    error_ = error;  // if set, the connection is broken: nothing more will be written
    if (!error) {
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

asio::awaitable<void> EchoServer::accept_loop() {
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(no_throw);
    if (error == asio::error::operation_aborted) break;  // stop(), or serve() was cancelled
    if (error) {  // e.g. EMFILE, out of descriptors: keep serving, after a pause (no spinning)
      log("server", "accept failed: {}", error.message());
      co_await tut::sleep(milliseconds(100));
      continue;
    }
    // Small writes go out at once instead of waiting for the previous one's ACK (Nagle's
    // algorithm + delayed ACKs can stall a request-response protocol by ~40 ms a message).
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = start_session(std::move(socket));  // registered and logged
    // One task per connection, like start_server(): reader and writer side by side; `&&` ends
    // when both have (the reader closes the queue, the writer ends once it is empty). Its
    // errors (e.g. bad_alloc) end only this session.
    using namespace asio::experimental::awaitable_operators;
    asio::co_spawn(executor_, read_lines(session) && session->out.run(),
                   [this, session](std::exception_ptr failure, auto&&...) {
                     if (failure) ++stats_.errors;
                     end_session(session);  // close the socket, forget the session
                     log_failure(session->name, options_.log)(failure);
                   });
    asio::co_spawn(executor_, watchdog(session), tut::rethrow);  // its deadlines
  }
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
    // not_found: longer than max_line (LimitOverrunError); eof: the client closed; aborted:
    // stop() or the watchdog; else a reset... Each ends this session only: say_goodbye().
    ending.read_error = error;
    if (error) break;
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

asio::awaitable<void> LineClient::write(std::string data) {
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

void LineClient::close() {
  asio::error_code ignored;
  socket_.close(ignored);
}

}  // namespace lesson012
