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
// - tokio_test::io::Builder (a scripted stream): ScriptedStream, at the end.
#pragma once

#include <deque>
#include <string>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>

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

}  // namespace lesson023

// ScriptedStream, tokio_test::io::Builder: a stream that plays a script of expected writes
// (.write("ping\n")), canned reads (.read("pong\n")) and injected errors (.error(code)); done()
// says whether it was played to the end, mismatch() what a wrong write was. Built on
// async_initiate (lesson 018), so it is in how_it_is_built.hpp.
#include "how_it_is_built.hpp"
