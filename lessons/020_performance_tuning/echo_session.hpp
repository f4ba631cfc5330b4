// Lesson 020: the echo session every Asio server variant runs, header-only on purpose: the
// io_uring program (io_uring/echo_uring.cpp) compiles exactly this code with another backend.
#pragma once

#include <array>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/buffers_iterator.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace lesson020 {

/// Step 8: the end of a line for async_read_until's match-condition form: the '\n' overload's
/// answer (the limit, not_found, the bytes after the line kept) from one memchr(), where that
/// overload steps a buffers_iterator byte by byte (a seventh of 012's user-space instructions).
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

/// How a session reads and writes: the knobs sections 6 to 9 of the lesson turn, one each.
struct SessionConfig {
  enum class Write { copy_then_write, in_place, split_in_two, gathered };
  Write write = Write::copy_then_write;  ///< the naive baseline copies each line out
  bool nodelay = true;                   ///< TCP_NODELAY, as asyncio sets on its transports
  bool memchr_end_of_line = false;       ///< step 8: EndOfLine instead of '\n'
  bool every_line_at_once = false;       ///< step 9: echo every complete line in one write
};

/// One connection: read a line, write it back, until the client leaves.
inline asio::awaitable<void> echo_session(asio::ip::tcp::socket socket, SessionConfig config) {
  using Write = SessionConfig::Write;
  try {
    socket.set_option(asio::ip::tcp::no_delay(config.nodelay));
    std::string buffer;  // one per connection, reused for every line: no allocation per line
    for (;;) {
      auto into_buffer = asio::dynamic_buffer(buffer, 64 * 1024);
      std::size_t n = 0;  // the bytes up to and including the first '\n'
      if (config.memchr_end_of_line)
        n = co_await asio::async_read_until(socket, into_buffer, EndOfLine{}, asio::use_awaitable);
      else
        n = co_await asio::async_read_until(socket, into_buffer, '\n', asio::use_awaitable);
      // Step 9: a client that sends several lines at once gets them back in ONE write (one
      // system call), not one write per line. The usual single line needs no second search.
      if (config.every_line_at_once && buffer.size() > n) n = buffer.rfind('\n') + 1;
      const auto head = asio::buffer(buffer.data(), n / 2);  // the halves of a split write
      const auto tail = asio::buffer(buffer.data() + n / 2, n - n / 2);
      if (config.write == Write::copy_then_write) {
        // What most first versions do: take the line out as its own string. A 64-byte
        // line is past the small-string buffer, so this is one heap allocation per echo.
        std::string copy = buffer.substr(0, n);
        co_await asio::async_write(socket, asio::buffer(copy), asio::use_awaitable);
      } else if (config.write == Write::in_place) {
        co_await asio::async_write(socket, asio::buffer(buffer.data(), n), asio::use_awaitable);
      } else if (config.write == Write::split_in_two) {
        // Two small writes in a row: with Nagle on, the second waits for the ACK of the
        // first, and the client delays that ACK (up to 40 ms on Linux) hoping to piggyback it.
        co_await asio::async_write(socket, head, asio::use_awaitable);
        co_await asio::async_write(socket, tail, asio::use_awaitable);
      } else {
        // The same two pieces in ONE gathered write (writev): one segment, no stall.
        std::array<asio::const_buffer, 2> pieces{head, tail};
        co_await asio::async_write(socket, pieces, asio::use_awaitable);
      }
      buffer.erase(0, n);  // keeps the capacity
    }
  } catch (const std::exception&) {
    // End of stream or a reset: the client has left, which is how every session ends.
  }
}

/// Where each connection's session runs. On an io_context run by several threads, a strand
/// per connection keeps one connection's code on one thread at a time (no data race).
enum class PerConnection {
  same_executor,       ///< the acceptor's executor: right for a single-threaded io_context
  strand_of_any,       ///< make_strand(any_io_executor): the obvious spelling
  strand_of_io_context ///< make_strand(io_context::executor_type): the same, smaller
};

/// Accepts forever, one echo_session per connection, on the executor `where` says.
inline asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor acceptor, SessionConfig config,
                                         PerConnection where) {
  for (;;) {
    asio::any_io_executor executor = acceptor.get_executor();
    // any_io_executor stores an executor of up to 24 bytes in place, and heap-allocates a
    // bigger one on every copy, and executors are copied for every operation. A strand of
    // any_io_executor is 72 bytes; a strand of io_context::executor_type is 24.
    if (where == PerConnection::strand_of_any)
      executor = asio::make_strand(executor);
    else if (where == PerConnection::strand_of_io_context)
      executor = asio::make_strand(*executor.target<asio::io_context::executor_type>());
    asio::ip::tcp::socket socket = co_await acceptor.async_accept(executor, asio::use_awaitable);
    // Sessions catch their own errors; rethrow anything else instead of losing it.
    asio::co_spawn(executor, echo_session(std::move(socket), config),
                   [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  }
}

}  // namespace lesson020
