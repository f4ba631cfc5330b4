// How it is built (lesson 022, optional): the demonstration's small service. A learner can
// skip this file at this lesson: what it does shows in the demo's output. It is an ordinary
// user of run_service() (shutdown.hpp): workers take jobs from a lesson 010 Queue; the Stop
// shuts the queue down (asyncio 3.13's Queue.shutdown()), so submit() rejects new jobs and the
// workers finish the ones accepted; a cancelled worker reports the job it held and the jobs
// still queued. Its code is in how_it_is_built.cpp.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>

#include "shutdown.hpp"

namespace lesson022 {

struct Job {
  int id = 0;
  milliseconds duration{100};
};

/// What happened to every job submitted: each id lands in `accepted` or `rejected`, and each
/// accepted one ends in `done` or `cancelled`. Nothing is dropped silently.
struct Ledger {
  std::vector<int> accepted, rejected, done, cancelled;
};

/// A job queue with `workers` worker tasks. A handle: copies share the service.
class JobService {
 public:
  explicit JobService(int workers);
  /// Queues `job` and returns true; once the Stop of run() is seen it returns false
  /// (rejected: the caller knows the job will not run).
  bool submit(Job job) const;
  /// The Service: spawns the workers and a task that shuts the queue on the Stop. Logs as
  /// "worker-<n>".
  asio::awaitable<void> run(TaskGroup tasks, Stop stop);
  const Ledger& ledger() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace lesson022
