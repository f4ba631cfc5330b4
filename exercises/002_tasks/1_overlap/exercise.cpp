// Exercise 002.1: make the three jobs overlap (lesson 002, tasks).
// make_breakfast() must start toast (100 ms), eggs (200 ms) and coffee (300 ms) as three tasks
// of their own and return at once; the io_context then runs them side by side, so breakfast
// takes 0.3 s, the longest job, not 0.6 s. The starter runs them one after another in one task.
// Check it: ./tutorial exercise check 002.1   (stuck? ./tutorial exercise hint 002.1)
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>

#include "run.hpp"    // tut::rethrow
#include "tasks.hpp"  // lesson002::Job, lesson002::run_job(job, timeline), lesson002::Timeline

namespace exercise {

using namespace std::chrono_literals;
using lesson002::Job;
using lesson002::Timeline;

namespace {
asio::awaitable<void> one_after_another(std::vector<Job> jobs, std::shared_ptr<Timeline> timeline) {
  for (const Job& job : jobs) {
    co_await lesson002::run_job(job, timeline);  // waits for this job before starting the next
  }
}
}  // namespace

void make_breakfast(asio::any_io_executor executor, std::shared_ptr<Timeline> timeline) {
  std::vector<Job> jobs{{"toast", 100ms}, {"eggs", 200ms}, {"coffee", 300ms}};
  // TODO: one task runs the three jobs in a row, so each waits for the one before. Start each
  // job as a task of its own instead (asyncio.create_task), with the token lesson 002 uses
  // for a task nobody awaits.
  asio::co_spawn(executor, one_after_another(std::move(jobs), timeline), tut::rethrow);
}

}  // namespace exercise
