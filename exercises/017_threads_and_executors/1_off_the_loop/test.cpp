// Tests of exercise 017.1 (exercise.cpp next to this file): checksum() runs on a real event
// loop next to a heartbeat coroutine that notes the longest silence between its ticks.
#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>

#include "run.hpp"
#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace exercise {
int blocking_checksum(int n) {
  std::this_thread::sleep_for(200ms);  // a blocking call: no coroutine, no timer
  return n * 7 + 1;
}
asio::awaitable<int> checksum(std::shared_ptr<asio::thread_pool> pool, int n);
}  // namespace exercise

namespace {
struct Beat {
  bool stop = false;
  Clock::duration longest_silence{};
};

asio::awaitable<void> heartbeat(std::shared_ptr<Beat> beat) {
  auto last = Clock::now();
  while (!beat->stop) {
    co_await tut::sleep(20ms);
    auto now = Clock::now();
    beat->longest_silence = std::max(beat->longest_silence, now - last);
    last = now;
  }
}

struct Result {
  int sum = 0;
  long long longest_silence_ms = 0;
};

asio::awaitable<Result> checksum_with_heartbeat(std::shared_ptr<asio::thread_pool> pool) {
  auto executor = co_await asio::this_coro::executor;
  auto beat = std::make_shared<Beat>();
  asio::co_spawn(executor, heartbeat(beat), tut::rethrow);
  co_await tut::sleep(30ms);  // the heartbeat is ticking
  Result result;
  result.sum = co_await exercise::checksum(pool, 6);
  co_await tut::sleep(30ms);
  beat->stop = true;
  result.longest_silence_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(beat->longest_silence).count();
  co_return result;
}

Result run_it() {
  auto pool = std::make_shared<asio::thread_pool>(1);
  Result result = tut::test::run_within(checksum_with_heartbeat(pool), 5s);
  pool->join();
  return result;
}
}  // namespace

TEST_CASE("checksum returns what blocking_checksum computes") {
  CHECK(run_it().sum == 43);
}

TEST_CASE("while the checksum is computed, the loop stays free: the heartbeat keeps ticking") {
  Result result = run_it();
  INFO("the 20 ms heartbeat was silent for up to " << result.longest_silence_ms
       << " ms; expected under 150 ms (the blocking call takes 200 ms: on the loop's thread, "
          "it stalls every coroutine)");
  CHECK(result.longest_silence_ms < 150);
}
