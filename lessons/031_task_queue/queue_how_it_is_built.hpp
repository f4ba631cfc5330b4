// How it is built: project 031's plumbing around task_queue.hpp. A learner can skip this file:
// the demo's job kinds (sleep, fail, echo, record), the status table's text, and the command
// line (enqueue, worker, status, the demo), which start worker processes as lesson 013 does
// and stop them with SIGTERM as lesson 022 teaches.
#pragma once

#include <map>
#include <string>

#include <asio/awaitable.hpp>

#include "task_queue.hpp"

namespace lesson031 {

/// The demo's job kinds, for the program and the tests:
///   sleep MS    waits MS milliseconds
///   echo TEXT   prints TEXT on stdout
///   fail N      fails its first N attempts, then succeeds
///   record MS   inserts a row into job_runs (job, attempt, worker, started_at), waits MS,
///               then sets its finished_at: the tests read from the database which worker ran
///               what, and whether two runs of one job overlapped.
/// `worker` is the name written into job_runs.
std::map<std::string, Handler> demo_handlers(Queue& queue, std::string worker);
/// The job_runs table of the `record` kind (create_schema() first).
asio::awaitable<void> create_demo_tables(Queue& queue);
/// The status as a small table: counts per state, due and scheduled, the oldest waiting job.
std::string format_status(const Status& status);
/// The program: `031_task_queue --help`.
int run_program(int argc, char** argv);

}  // namespace lesson031
