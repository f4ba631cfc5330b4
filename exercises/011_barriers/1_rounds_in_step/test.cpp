// Tests of exercise 011.1 (exercise.cpp next to this file): three workers (compute_round takes
// 10, 30 and 60 ms) run as tasks on a real event loop; compute_round() notes any round started
// before every worker had finished the previous one.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "barrier.hpp"
#include "run.hpp"
#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {
std::vector<int> finished;          // per worker: the last round it finished
std::vector<std::string> too_early; // "worker 0 started round 2 while worker 2 had finished round 0"
}  // namespace

namespace exercise {
asio::awaitable<void> compute_round(std::size_t id, int round) {
  for (std::size_t other = 0; other < finished.size(); ++other) {
    if (finished[other] < round - 1)
      too_early.push_back("worker " + std::to_string(id) + " started round " +
                          std::to_string(round) + " while worker " + std::to_string(other) +
                          " had finished only round " + std::to_string(finished[other]));
  }
  co_await tut::sleep(id == 0 ? 10ms : id == 1 ? 30ms : 60ms);
  finished[id] = round;
}
asio::awaitable<void> worker(std::size_t id, int rounds, lesson011::Barrier* barrier);
}  // namespace exercise

namespace {
std::string run_workers(int rounds) {
  finished.assign(3, 0);
  too_early.clear();
  asio::io_context context;
  lesson011::Barrier barrier(context.get_executor(), 3);
  for (std::size_t id = 0; id < 3; ++id)
    asio::co_spawn(context, exercise::worker(id, rounds, &barrier), tut::rethrow);
  context.run_for(5s);
  std::string outcome;
  for (std::size_t id = 0; id < 3; ++id)
    outcome += "worker " + std::to_string(id) + " finished round " +
               std::to_string(finished[id]) + "; ";
  return outcome;
}
}  // namespace

TEST_CASE("one round: every worker finishes it") {
  CHECK(run_workers(1) == "worker 0 finished round 1; worker 1 finished round 1; "
                          "worker 2 finished round 1; ");
}

TEST_CASE("three rounds: no worker starts a round before all have finished the previous one") {
  std::string outcome = run_workers(3);
  CHECK(outcome == "worker 0 finished round 3; worker 1 finished round 3; "
                   "worker 2 finished round 3; ");
  std::string first = too_early.empty() ? "none" : too_early.front();
  INFO(too_early.size() << " round(s) started too early; the first: " << first);
  CHECK(too_early.empty());
}
