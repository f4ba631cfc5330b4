// Exercise 002.1, a solution: one co_spawn per job. Each is a task of its own, so while toast
// waits on its timer, eggs and coffee wait on theirs: the waits overlap.
#include <chrono>
#include <memory>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/co_spawn.hpp>

#include "run.hpp"
#include "tasks.hpp"

namespace exercise {

using namespace std::chrono_literals;
using lesson002::Job;
using lesson002::Timeline;

void make_breakfast(asio::any_io_executor executor, std::shared_ptr<Timeline> timeline) {
  std::vector<Job> jobs{{"toast", 100ms}, {"eggs", 200ms}, {"coffee", 300ms}};
  for (const Job& job : jobs) {
    asio::co_spawn(executor, lesson002::run_job(job, timeline), tut::rethrow);
  }
}

}  // namespace exercise
