// Lesson 011 demo: three workers do three rounds of work of different lengths; a Barrier(3)
// makes each round end for everyone before anyone starts the next. Then a worker fails and
// aborts the barrier, so the others do not wait for it forever.
#include <fmt/format.h>

#include "barrier.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;

asio::awaitable<void> demo() {
  tut::reset_clock();  // time 0.0 is when the demo starts, not when the process did
  tut::log("main", "3 workers, 3 rounds; a Barrier(3) closes each round");
  // Row = worker, column = round. Different lengths, so the arrival order changes per round.
  std::vector<std::vector<lesson011::milliseconds>> work{
      {100ms, 300ms, 200ms},
      {200ms, 100ms, 300ms},
      {300ms, 200ms, 100ms},
  };
  co_await lesson011::run_in_phases(std::move(work));
  tut::log("main", "3 rounds in {}: each took as long as its slowest worker",
           tut::seconds(tut::elapsed()));

  tut::log("main", "again, but worker-2 fails before it reaches the barrier");
  co_await lesson011::run_with_failure(3, 2);
  tut::log("main", "nobody was left waiting: abort() broke the barrier for current and later waits");
}

int main() { tut::run(demo()); }
