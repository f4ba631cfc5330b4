// Lesson 023 demo: the same retry and timeout code on the real clock and on fake time. The
// real run takes its 0.3 s; the fake one plays 15 s of retries and a 30 s timeout at once
// (the logger's real time stamps stay at 0.0s), every step at its exact fake time.
#include <fmt/core.h>

#include "log.hpp"
#include "run.hpp"
#include "testing.hpp"

using namespace std::chrono_literals;
using lesson023::MockStore;
using tut::fake::Clock;

std::string fake_now() { return tut::seconds(Clock::now().time_since_epoch()); }

// A store that logs each call (on fake time: with the fake time), then lets a MockStore play
// its script.
struct LoggedStore : lesson023::Store {
  MockStore mock;
  bool fake = true;
  asio::awaitable<std::string> get(std::string key) override {
    std::string when = fake ? " at fake time " + fake_now() : "";
    tut::log("store", "get({:?}) #{}{}", key, mock.keys.size() + 1, when);
    return mock.get(std::move(key));
  }
};

asio::awaitable<void> on_real_time() {
  LoggedStore store;
  store.fake = false;
  store.mock.fails(asio::error::connection_refused).fails(asio::error::connection_refused)
      .answers("v3");
  std::vector<asio::steady_timer::duration> delays{100ms, 200ms};
  auto value = co_await lesson023::get_with_retry<asio::steady_timer>(store, "config", delays);
  tut::log("main", "got {:?} on the real clock", value);
}

asio::awaitable<void> on_fake_time() {
  LoggedStore store;
  for (int i = 0; i < 4; ++i) store.mock.fails(asio::error::connection_refused);
  store.mock.answers("v5").hangs();
  std::vector<Clock::duration> delays{1s, 2s, 4s, 8s};
  auto value = co_await lesson023::get_with_retry<tut::fake::Timer>(store, "config", delays);
  tut::log("main", "got {:?} at fake time {}", value, fake_now());
  try {
    co_await lesson023::get_within<tut::fake::Timer>(store, "slow", 30s);
  } catch (const lesson023::TimeoutError&) {
    tut::log("main", "TimeoutError at fake time {}, the hung get cancelled: {}", fake_now(),
             store.mock.cancelled);
  }
}

int main() {
  tut::reset_clock();
  fmt::print("== get_with_retry<asio::steady_timer>, delays 0.1s, 0.2s ==\n");
  tut::run(on_real_time());
  fmt::print("== get_with_retry<tut::fake::Timer>, delays 1s, 2s, 4s, 8s; get_within 30s ==\n");
  tut::reset_clock();
  tut::fake::run_fake(on_fake_time());
}
