// Lesson 014: timeouts.
//
// A timeout is a race between an operation and a timer, with three rules that are easy to get
// wrong (timeouts.hpp lists them): the race must end at the first *completion*, not the first
// success; the loser must be cancelled and allowed to finish its cleanup; and only the
// deadline's own cancellation may turn into TimeoutError. Deadline::run (in the header,
// because it is a template) does all three; this file has the watch it races against and
// the helpers the demo and the tests use.
#include "timeouts.hpp"

#include <asio/connect.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>

#include "log.hpp"

namespace lesson014 {

using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;

TimeoutError::TimeoutError()
    : std::system_error(std::make_error_code(std::errc::timed_out), "deadline expired") {}

Deadline::Deadline(asio::any_io_executor executor, clock::time_point when)
    : timer_(std::move(executor), when) {}

void Deadline::reschedule(clock::time_point when) {
  // expires_at() cancels the waits in progress; watch() sees that and waits again for the
  // new time. The deadline is whatever the timer says *now*.
  timer_.expires_at(when);
  expired_ = false;
}

asio::awaitable<void> Deadline::watch() {
  for (;;) {
    auto [error] = co_await timer_.async_wait(compat::as_tuple(asio::use_awaitable));
    (void)error;  // success or aborted, the same questions decide what it meant:
    // 1. Were *we* cancelled (the operation finished first)? Then stop, as a cancellation.
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      throw std::system_error(asio::error::operation_aborted);
    // 2. Has the deadline really passed? A reschedule() may have moved it, even after the
    //    timer fired but before we got to run.
    if (clock::now() >= timer_.expiry()) {
      expired_ = true;
      co_return;  // completing ends the race: the group cancels the operation
    }
  }
}

asio::awaitable<void> sleep(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<std::string> slow_answer(std::string name, milliseconds delay, std::string text) {
  try {
    co_await sleep(delay);
  } catch (const std::system_error& error) {
    // A cancelled operation gets to clean up (close files, roll back...) before the
    // cancellation travels on. The timeout waits for this to finish.
    if (error.code() == asio::error::operation_aborted)
      tut::log(name, "cancelled: cleaning up");
    throw;
  }
  tut::log(name, "answers {:?}", text);
  co_return text;
}

asio::awaitable<std::pair<tcp::socket, tcp::socket>> socket_pair() {
  auto executor = co_await asio::this_coro::executor;
  tcp::endpoint local(asio::ip::address_v4::loopback(), 0);  // port 0: the kernel picks one
  tcp::acceptor acceptor(executor, local);
  tcp::socket client(executor);
  auto connecting = client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  auto accepting = acceptor.async_accept(asio::use_awaitable);
  auto server = co_await (std::move(connecting) && std::move(accepting));
  co_return std::pair<tcp::socket, tcp::socket>(std::move(client), std::move(server));
}

asio::awaitable<tcp::socket> connect(tcp::endpoint endpoint) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(endpoint, asio::use_awaitable);
  co_return socket;
}

asio::awaitable<std::string> LineReader::read_line() {
  // The dynamic buffer appends to buffer_, which outlives this operation: bytes read before
  // a cancellation stay there. async_read_until returns as soon as buffer_ holds a '\n'
  // (perhaps without reading at all, if an earlier read brought it).
  std::size_t length = co_await asio::async_read_until(socket_, asio::dynamic_buffer(buffer_),
                                                       '\n', asio::use_awaitable);
  std::string line = buffer_.substr(0, length - 1);
  buffer_.erase(0, length);  // no co_await between reading and consuming: nothing lost
  co_return line;
}

asio::awaitable<std::string> LineReader::read_line(milliseconds timeout) {
  auto reading = read_line();
  co_return co_await with_timeout(std::move(reading), timeout);
}

asio::awaitable<std::vector<std::string>> read_lines(LineReader& reader, std::size_t count,
                                                     clock::time_point deadline_at) {
  Deadline deadline(co_await asio::this_coro::executor, deadline_at);
  std::vector<std::string> lines;  // outside the raced reads: what arrived in time is kept
  try {
    while (lines.size() < count) {
      auto line = co_await deadline.run(reader.read_line());
      lines.push_back(std::move(line));
    }
  } catch (const TimeoutError&) {
    // The deadline passed: return what arrived before it. Other errors propagate.
  }
  co_return lines;
}

}  // namespace lesson014
