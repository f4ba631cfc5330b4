// Lesson 009 demo: a Semaphore(2) lets five jobs run, but never more than two at a time;
// then the difference between Semaphore and BoundedSemaphore on a release too many.
#include <asio/this_coro.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "log.hpp"
#include "run.hpp"
#include "semaphore.hpp"

using namespace std::chrono_literals;

asio::awaitable<void> demo() {
  tut::reset_clock();  // time 0.0 is when the demo starts, not when the process did
  tut::log("main", "5 jobs start at once; a Semaphore(2) lets 2 run at a time");
  // Distinct durations, so that no two jobs finish at the same moment.
  std::vector<lesson009::milliseconds> durations{200ms, 300ms, 200ms, 300ms, 100ms};
  auto report = co_await lesson009::run_limited(std::move(durations), 2);
  tut::log("main", "all done in {}: at most {} ran at once, started in order {}",
           tut::seconds(tut::elapsed()), report.max_running, fmt::join(report.start_order, ", "));

  auto executor = co_await asio::this_coro::executor;
  lesson009::Semaphore plain(executor, 1);
  plain.release();  // no acquire() before it: a plain Semaphore just counts up
  tut::log("main", "Semaphore(1): an unmatched release() is allowed, value is now {}",
           plain.value());

  lesson009::BoundedSemaphore bounded(executor, 1);
  try {
    bounded.release();
  } catch (const lesson009::ReleasedTooManyTimes& error) {
    tut::log("main", "BoundedSemaphore(1): an unmatched release() throws: {}", error.what());
  }
}

int main() { tut::run(demo()); }
