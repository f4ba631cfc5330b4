// How it is built (lesson 023, optional): the code of the test doubles, MockStore and
// ScriptedStream. A learner can skip this file at lesson 023: the tests show what they do.
#include <algorithm>
#include <stdexcept>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "testing.hpp"

namespace lesson023 {

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

}  // namespace lesson023
