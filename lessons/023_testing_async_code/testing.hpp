// Lesson 023: testing async code. The code under test, and the test doubles that stand in for
// its dependencies. The lesson's main material is its test file,
// tests/test_023_testing_async_code.cpp, and the fake clock in common/fake_clock.hpp.
//
// asyncio counterparts:
// - pytest-asyncio's `@pytest.mark.asyncio` and unittest's IsolatedAsyncioTestCase give each
//   test a fresh event loop: tut::test::run_within(coro) gives each test a fresh io_context
//   and fails it, instead of hanging, if it does not finish in time.
// - unittest.mock.AsyncMock (an awaitable method that records its calls and plays a scripted
//   return_value / side_effect): MockStore below, behind the Store interface.
// - fake time (trio's MockClock(autojump_threshold=0), Tokio's time::pause(), the looptime
//   plugin for pytest-asyncio): tut::fake::Clock, Timer and run_fake(). Python can patch the
//   loop's clock at run time; C++ code takes its timer type as a template parameter instead.
// - tokio_test::io::Builder (a scripted stream): ScriptedStream below.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/post.hpp>

#include "fake_clock.hpp"

namespace lesson023 {

/// The dependency: an asynchronous key-value store (a database, a remote service).
class Store {
 public:
  virtual ~Store() = default;
  virtual asio::awaitable<std::string> get(std::string key) = 0;
};

/// asyncio's TimeoutError (as in lesson 014): a std::system_error with errc::timed_out.
class TimeoutError : public std::system_error {
 public:
  TimeoutError() : std::system_error(std::make_error_code(std::errc::timed_out), "timed out") {}
};

// ---- the code under test: each takes its timer type (asio::steady_timer or tut::fake::Timer)

/// store.get(key), retried after each failure (a std::system_error; other exceptions pass
/// through): waits delays[0], then delays[1]... between attempts (delays.size() + 1 attempts).
/// Returns the first answer; rethrows the last error once the delays are used up. A
/// cancellation (operation_aborted) stops it at once, never retried. `store` must outlive it.
template <class Timer>
asio::awaitable<std::string> get_with_retry(Store& store, std::string key,
                                            std::vector<typename Timer::duration> delays);

/// store.get(key) within `timeout`: throws TimeoutError if the timer wins (after the get has
/// been cancelled and finished), or the get's own error as soon as it fails.
template <class Timer>
asio::awaitable<std::string> get_within(Store& store, std::string key,
                                        typename Timer::duration timeout);

/// A one-line request: writes `question` + '\n' to `stream`, returns the reply line without
/// its '\n'. Throws the stream's error (asio::error::eof if the peer closes first).
template <class Stream>
asio::awaitable<std::string> ask(Stream& stream, std::string question);

// ---- test doubles --------------------------------------------------------------------------

/// AsyncMock for Store. Each get() records its key and fake time, then plays the next
/// scripted step: answer, fail, or hang until cancelled, after a delay on the fake clock.
class MockStore : public Store {
 public:
  using duration = tut::fake::Clock::duration;

  MockStore& answers(std::string value, duration after = {});
  MockStore& fails(std::error_code error, duration after = {});
  /// Never answers: waits on a real timer that never fires, so run_fake has no fake time to
  /// jump to. Without a timeout around it, the test fails at run_fake's real-time limit.
  MockStore& hangs();

  asio::awaitable<std::string> get(std::string key) override;

  std::vector<std::string> keys;                          // await_args_list
  std::vector<tut::fake::Clock::time_point> called_at;    // when each call came, fake time
  int cancelled = 0;                                      // calls that ended cancelled

 private:
  struct Step {
    duration delay;
    std::string value;
    std::error_code error;
    bool hang = false;
  };
  std::deque<Step> script_;
};

/// tokio_test::io::Builder: a stream that plays a script. Reads return the canned bytes;
/// writes must match the expected bytes (a mismatch completes with invalid_argument and is
/// recorded in mismatch()); an error step fails the next read or write. Every operation
/// completes through asio::post, never inline, like a real socket's.
class ScriptedStream {
 public:
  using executor_type = asio::any_io_executor;
  explicit ScriptedStream(executor_type executor) : executor_(std::move(executor)) {}

  ScriptedStream& read(std::string bytes);
  ScriptedStream& write(std::string expected);
  ScriptedStream& error(std::error_code error);

  /// True once every step has been played (tokio's Mock panics on drop otherwise).
  bool done() const { return script_.empty(); }
  const std::string& mismatch() const { return mismatch_; }
  executor_type get_executor() const { return executor_; }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return start<false>(buffers, std::forward<Token>(token));
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return start<true>(buffers, std::forward<Token>(token));
  }

 private:
  struct Step {
    enum Kind { read, write, error } kind;
    std::string bytes;
    std::error_code code;
  };
  struct Result {
    std::error_code error;
    std::size_t bytes = 0;
    std::string data;  // what a read delivers
  };

  // Plays the next step against a write of `written`, or a read of at most `room` bytes.
  Result play(bool writing, const std::string& written, std::size_t room);

  // The operation plays its step when it starts, and completes through asio::post.
  template <bool writing, typename Buffers, typename Token>
  auto start(const Buffers& buffers, Token&& token) {
    auto initiation = [this](auto handler, Buffers target) {
      std::string written(writing ? asio::buffer_size(target) : 0, '\0');
      if constexpr (writing) asio::buffer_copy(asio::buffer(written), target);
      Result result = play(writing, written, asio::buffer_size(target));
      if constexpr (!writing) result.bytes = asio::buffer_copy(target, asio::buffer(result.data));
      auto executor = asio::get_associated_executor(handler, executor_);
      asio::post(executor, [handler = std::move(handler), result]() mutable {
        std::move(handler)(result.error, result.bytes);
      });
    };
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        std::move(initiation), token, buffers);
  }

  executor_type executor_;
  std::deque<Step> script_;
  std::string mismatch_;
};

}  // namespace lesson023
