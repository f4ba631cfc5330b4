// Lesson 014: timeouts, used. A timeout is a race between an operation and a timer, with
// three rules that are easy to get wrong (timeouts.hpp lists them): the race must end at the
// first *completion*, not the first success; the loser must be cancelled and allowed to
// finish its cleanup; and only the deadline's own cancellation may turn into TimeoutError.
// Deadline::run does all three (timeouts_how_it_is_built.hpp, optional). This file uses it:
// a slow request that cleans up when cancelled, a line reader whose buffer survives a
// timeout, and one deadline shared by a sequence of reads.
#include "timeouts.hpp"

#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>

#include "log.hpp"

namespace lesson014 {

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
