// Lesson 023: testing async code.
//
// The code under test is written once and instantiated twice: with asio::steady_timer for the
// program and with tut::fake::Timer for the tests (the explicit instantiations at the end).
// Nothing in it knows about tests; it only has to take its timer type (and its stream type,
// and its dependencies behind an interface) from outside, and keep cancellation working.
#include "testing.hpp"

#include <asio/experimental/parallel_group.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

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
