// Lesson 010 demo: a fast producer, two slower workers and a queue of 2 between them.
// Watch the producer stop at "queue full" and resume only when a worker takes a job.
// Then a worker throws, and the same pipeline over an asio::experimental::channel.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "log.hpp"
#include "pipeline.hpp"
#include "run.hpp"

using namespace std::chrono_literals;

asio::awaitable<void> demo() {
  std::vector<lesson010::Worker> workers{{"worker-a", 200ms}, {"worker-b", 500ms}};
  tut::log("main", "Queue maxsize=2; worker-a needs 0.2s a job, worker-b 0.5s");
  auto report = co_await lesson010::run_pipeline(2, 6, workers);
  tut::log("main", "worker-a did {}", fmt::join(report.done[0], " "));
  tut::log("main", "worker-b did {}", fmt::join(report.done[1], " "));
  tut::log("main", "the producer waited {} times; never more than {} jobs queued",
           report.blocked_puts, report.most_queued);

  tut::reset_clock();  // each part's times start at 0.0s
  tut::log("main", "again with 3 jobs, but job-3 throws in its worker");
  try {
    co_await lesson010::run_pipeline(2, 3, workers, "job-3");
  } catch (const std::runtime_error& error) {
    tut::log("main", "run_pipeline threw: {}", error.what());
  }

  tut::reset_clock();
  tut::log("main", "asio::experimental::channel of 1, one worker needing 0.2s a job");
  report = co_await lesson010::run_channel(1, 3, 200ms);
  tut::log("main", "the worker received {}", fmt::join(report.done[0], " "));
}

int main() { tut::run(demo()); }
