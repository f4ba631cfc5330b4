// How it is built: project 031's plumbing around task_queue.hpp. A learner can skip this file:
// small helpers of the queue's statements, the demo's job kinds (sleep, fail, echo, record),
// the status table's text, and the command line (enqueue, worker, status, the demo), which
// starts worker processes as lesson 013 does and stops them with SIGTERM as lesson 022 teaches.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "task_queue.hpp"

namespace lesson031 {

/// Every change to a claimed job names its lease (id, worker, attempt): a job taken over by
/// another worker is not ours any more, and the statement changes nothing.
inline const char* const held =
    " WHERE id = $1 AND worker = $2 AND attempts = $3 AND state = 'running' RETURNING id";
/// A duration as SQL parameter text, in milliseconds.
inline std::string ms(milliseconds d) { return std::to_string(d.count()); }
/// "a,b,c"
std::string comma_list(const std::vector<std::string>& items);
/// A Job from a row of (id, kind, payload, priority, attempts, max_attempts).
Job job_from(const std::vector<std::optional<std::string>>& row);
/// How long a worker waits before trying the database again after `failures` failures in a
/// row: lesson 027's backoff window, at most 10 s (the jobs' retries may wait minutes, but a
/// worker should be back soon after its database is).
milliseconds reconnect_delay(const WorkerOptions& options, int failures);
/// Waits `delay` (a steady_timer); cancellable.
asio::awaitable<void> pause(milliseconds delay);
/// The same, but a cancellation returns false instead of throwing: keep_lease()'s beat, which
/// the `||` in run_job() cancels whenever the handler ends first. An exception there, once per
/// job, was a quarter of a worker's instructions on no-op jobs (docs/performance.md).
asio::awaitable<bool> pause_quietly(milliseconds delay);
/// A worker's line on stderr, "name: text" (stdout is the program's own).
void say(const std::string& worker, const std::string& text);

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
