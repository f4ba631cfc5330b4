// Lesson 023: testing async code.
//
// The code under test is written once and instantiated twice: with asio::steady_timer for the
// program and with tut::fake::Timer for the tests (the explicit instantiations at the end).
// Nothing in it knows about tests; it only has to take its timer type (and its stream type,
// and its dependencies behind an interface) from outside, and keep cancellation working.
#include "testing.hpp"

#include <stdexcept>

#include <asio/experimental/parallel_group.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"

namespace lesson023 {

template <class Timer>
asio::awaitable<std::string> get_with_retry(Store& store, std::string key,
                                            std::vector<typename Timer::duration> delays) {
  Timer timer(co_await asio::this_coro::executor);
  for (std::size_t attempt = 0;; ++attempt) {
    std::exception_ptr failure;
    try {
      co_return co_await store.get(key);
    } catch (const std::system_error& error) {
      if (error.code() == asio::error::operation_aborted) throw;  // cancelled: never retry
      failure = std::current_exception();
    }
    if (attempt == delays.size()) std::rethrow_exception(failure);
    timer.expires_after(delays[attempt]);
    co_await timer.async_wait(asio::use_awaitable);  // a cancellation ends the sleep too
  }
}

template <class Timer>
asio::awaitable<std::string> get_within(Store& store, std::string key,
                                        typename Timer::duration timeout) {
  auto executor = co_await asio::this_coro::executor;
  Timer timer(executor, timeout);
  // Not `get || timer`: that waits for the first *success* (lesson 014). wait_for_one ends
  // at the first completion, cancels the other, and waits for it to finish.
  auto getting = asio::co_spawn(executor, store.get(std::move(key)), compat::deferred);
  auto timing = timer.async_wait(compat::deferred);
  auto group = asio::experimental::make_parallel_group(std::move(getting), std::move(timing));
  auto results = co_await group.async_wait(asio::experimental::wait_for_one(),
                                           asio::use_awaitable);
  // results: (completion order, get's exception, get's value, the timer's error)
  if (std::get<0>(results)[0] == 1) {
    if (std::get<3>(results)) throw std::system_error(std::get<3>(results));  // cancelled
    throw TimeoutError();
  }
  if (std::get<1>(results)) std::rethrow_exception(std::get<1>(results));
  co_return std::move(std::get<2>(results));
}

template <class Stream>
asio::awaitable<std::string> ask(Stream& stream, std::string question) {
  question += '\n';
  co_await asio::async_write(stream, asio::buffer(question), asio::use_awaitable);
  std::string reply;
  std::size_t length = co_await asio::async_read_until(stream, asio::dynamic_buffer(reply), '\n',
                                                       asio::use_awaitable);
  co_return reply.substr(0, length - 1);
}

// ---- MockStore -----------------------------------------------------------------------------

MockStore& MockStore::answers(std::string value, duration after) {
  script_.push_back({after, std::move(value), {}});
  return *this;
}

MockStore& MockStore::fails(std::error_code error, duration after) {
  script_.push_back({after, {}, error});
  return *this;
}

MockStore& MockStore::hangs() {
  script_.push_back({{}, {}, {}, true});
  return *this;
}

asio::awaitable<std::string> MockStore::get(std::string key) {
  keys.push_back(key);
  called_at.push_back(tut::fake::Clock::now());
  if (script_.empty()) throw std::logic_error(fmt::format("MockStore: unscripted get({:?})", key));
  Step step = script_.front();
  script_.pop_front();
  auto executor = co_await asio::this_coro::executor;
  try {
    if (step.hang) {
      // A real timer that never fires: no fake timer for the runner to jump to, so a test
      // that forgets its timeout hangs for real, and run_fake's real-time limit fails it.
      asio::steady_timer never(executor, asio::steady_timer::time_point::max());
      co_await never.async_wait(asio::use_awaitable);
    } else if (step.delay > duration::zero()) {
      tut::fake::Timer timer(executor, step.delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) ++cancelled;
    throw;
  }
  if (step.error) throw std::system_error(step.error);
  co_return step.value;
}

// ---- ScriptedStream ------------------------------------------------------------------------

ScriptedStream& ScriptedStream::read(std::string bytes) {
  script_.push_back({Step::read, std::move(bytes), {}});
  return *this;
}

ScriptedStream& ScriptedStream::write(std::string expected) {
  script_.push_back({Step::write, std::move(expected), {}});
  return *this;
}

ScriptedStream& ScriptedStream::error(std::error_code error) {
  script_.push_back({Step::error, {}, error});
  return *this;
}

ScriptedStream::Result ScriptedStream::play(bool writing, const std::string& written,
                                            std::size_t room) {
  auto mismatch = [&](std::string what) {
    if (mismatch_.empty()) mismatch_ = std::move(what);  // keep the first: it is the cause
    return Result{asio::error::invalid_argument, 0, {}};
  };
  if (script_.empty()) {
    if (writing) return mismatch(fmt::format("write {:?} after the end of the script", written));
    return Result{asio::error::eof, 0, {}};  // reading past the script: the peer has closed
  }
  Step& step = script_.front();
  if (step.kind == Step::error) {
    Result result{step.code, 0, {}};
    script_.pop_front();
    return result;
  }
  if (writing != (step.kind == Step::write)) {
    if (writing) return mismatch(fmt::format("write {:?}, expected a read", written));
    return mismatch(fmt::format("read, expected a write of {:?}", step.bytes));
  }
  // A step may be played in pieces: a short read, or a write of part of the expected bytes.
  std::size_t count = std::min(writing ? written.size() : room, step.bytes.size());
  Result result{{}, count, step.bytes.substr(0, count)};
  if (writing && written.substr(0, count) != result.data)
    return mismatch(fmt::format("write {:?}, expected {:?}", written, step.bytes));
  step.bytes.erase(0, count);
  if (step.bytes.empty()) script_.pop_front();
  return result;
}

// ---- the instantiations the program and the tests use --------------------------------------

template asio::awaitable<std::string> get_with_retry<asio::steady_timer>(
    Store&, std::string, std::vector<asio::steady_timer::duration>);
template asio::awaitable<std::string> get_with_retry<tut::fake::Timer>(
    Store&, std::string, std::vector<tut::fake::Timer::duration>);
template asio::awaitable<std::string> get_within<asio::steady_timer>(
    Store&, std::string, asio::steady_timer::duration);
template asio::awaitable<std::string> get_within<tut::fake::Timer>(Store&, std::string,
                                                                   tut::fake::Timer::duration);
template asio::awaitable<std::string> ask(ScriptedStream&, std::string);
template asio::awaitable<std::string> ask(asio::local::stream_protocol::socket&, std::string);

}  // namespace lesson023
