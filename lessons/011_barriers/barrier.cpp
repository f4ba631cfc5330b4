// Lesson 011: barriers. Two demonstrations that use a Barrier: phases, and an abort().
// The state machine itself is in how_it_is_built.cpp.
#include "barrier.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gather.hpp"  // lesson 003's
#include "log.hpp"
#include "sleep.hpp"

namespace lesson011 {

asio::awaitable<std::size_t> Barrier::wait() {
  co_return co_await async_wait(asio::use_awaitable);
}

namespace {

struct Phases {
  Phases(asio::any_io_executor executor, std::size_t workers) : barrier(std::move(executor), workers) {}
  Barrier barrier;
  std::vector<PhaseEvent> events;
};

// Returns the number of rounds it passed (gather() wants a value from each task).
asio::awaitable<int> phased_worker(int number, std::vector<milliseconds> work, Phases* phases) {
  auto name = "worker-" + std::to_string(number);
  for (std::size_t r = 0; r < work.size(); ++r) {
    int round = static_cast<int>(r + 1);
    co_await tut::sleep(work[r]);
    phases->events.push_back({PhaseEvent::Kind::finished_work, number, round, 0});
    tut::log(name, "round {} done after {}, waits ({} of {} at the barrier)", round,
             tut::seconds(work[r]), phases->barrier.n_waiting() + 1, phases->barrier.parties());
    auto index = co_await phases->barrier.wait();
    phases->events.push_back({PhaseEvent::Kind::passed, number, round, index});
    if (index == 0) {
      // asyncio's docs: use the index to let exactly one task do per-phase housekeeping.
      tut::log(name, "passed with index 0: everyone finished round {}", round);
    } else {
      tut::log(name, "passed with index {}", index);
    }
  }
  co_return static_cast<int>(work.size());
}

// Returns what its wait() ended with, as run_with_failure() reports it.
asio::awaitable<std::string> failing_worker(int number, int failing, Barrier* barrier) {
  auto name = "worker-" + std::to_string(number);
  co_await tut::sleep(milliseconds(100 * number));
  if (number == failing) {
    tut::log(name, "fails and calls abort() so that nobody waits for it forever");
    barrier->abort();
    co_return "failed, aborted the barrier";
  }
  tut::log(name, "done, waits at the barrier");
  try {
    auto index = co_await barrier->wait();
    co_return "index " + std::to_string(index);
  } catch (const BrokenBarrierError& error) {
    tut::log(name, "BrokenBarrierError: {}", error.what());
    co_return std::string("BrokenBarrierError: ") + error.what();
  }
}

}  // namespace

asio::awaitable<std::vector<PhaseEvent>> run_in_phases(std::vector<std::vector<milliseconds>> work) {
  auto executor = co_await asio::this_coro::executor;
  Phases phases(executor, work.size());
  std::vector<asio::awaitable<int>> workers;
  for (std::size_t w = 0; w < work.size(); ++w) {
    workers.push_back(phased_worker(static_cast<int>(w + 1), work[w], &phases));
  }
  co_await lesson003::gather(std::move(workers));  // `phases` outlives every worker
  co_return phases.events;
}

asio::awaitable<std::vector<std::string>> run_with_failure(int workers, int failing) {
  auto executor = co_await asio::this_coro::executor;
  Barrier barrier(executor, static_cast<std::size_t>(workers));
  std::vector<asio::awaitable<std::string>> tasks;
  for (int number = 1; number <= workers; ++number) {
    tasks.push_back(failing_worker(number, failing, &barrier));
  }
  // Lesson 003's gather: all concurrently, each one's result in submission order.
  auto outcomes = co_await lesson003::gather(std::move(tasks));
  co_return outcomes;
}

}  // namespace lesson011
