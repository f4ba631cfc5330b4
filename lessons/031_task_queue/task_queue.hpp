// Project 031: a durable job queue in PostgreSQL, whose workers may run on many machines.
//
//   Python (Celery, RQ, arq, procrastinate)          C++ (this header)
//   task.delay(payload) / queue.enqueue(f, x)        co_await queue.enqueue({kind, payload})
//   celery worker --concurrency C                    Worker(queue, options, handlers).run(...)
//   @app.task(autoretry_for=..., max_retries=N)      NewJob::max_attempts, WorkerOptions::backoff
//   apply_async(countdown=S, priority=P)             NewJob::delay, NewJob::priority
//   celery inspect / rq info                         co_await queue.status()
//
// The queue is one table, and any number of worker processes on any machines share it with no
// broker of our own. A worker *claims* jobs with one UPDATE over `SELECT ... FOR UPDATE SKIP
// LOCKED` (two workers never get the same row, and neither waits for the other's), and an
// enqueue NOTIFYs the workers that LISTEN, so an idle one wakes at once instead of polling.
//
// A claimed job is *leased*, not taken: lease_until is extended while the handler runs. A
// worker that dies (SIGKILL, a power cut) stops extending it; once it expires any worker claims
// the job again. Completing or failing counts only while the lease (id, worker, attempt) is
// still this worker's, so a job taken over cannot be completed twice. A job therefore runs AT
// LEAST once, and twice if its worker died between the handler's effect and the `done`.
// Exactly-once is impossible across a crash: the effect and its acknowledgement are two events
// and a crash can fall between them, in either order. The cure is an idempotent handler: write
// an idempotency key (the job id) in the same transaction as the effect (INSERT ... ON CONFLICT
// DO NOTHING), so a second run finds the key and does nothing. A failed job is retried after
// lesson 027's backoff window, up to max_attempts; then it is `dead`, with its last error.
// Time is the database's (tq_now(): now() plus a skew the tests move, lesson 023's fake clock
// as a table row): workers with drifting clocks agree, and a 60 s retry is tested at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "pool.hpp"        // lesson 028: Pool, PgError
#include "resilience.hpp"  // lesson 027: RetryPolicy, backoff_window
#include "shutdown.hpp"    // lesson 022: TaskGroup, Stop, run_service

namespace lesson031 {

using std::chrono::milliseconds;

/// A job as a worker holds it. (id, worker, attempts) names its lease.
struct Job {
  long long id = 0;
  std::string kind, payload;
  int priority = 0;
  int attempts = 0;  // this run is attempt number `attempts`, from 1
  int max_attempts = 0;
};

struct NewJob {
  std::string kind, payload;
  int priority = 0;       // higher runs first
  milliseconds delay{0};  // not run before now + delay
  int max_attempts = 5;
};

struct Status {
  std::map<std::string, long long> counts;  // waiting, running, done, dead
  long long scheduled = 0;                  // waiting, but not due yet
  std::optional<Job> oldest_waiting;        // the due job waiting longest...
  milliseconds oldest_wait{0};              // ...and for how long
};

/// The queue's statements, on lesson 028's pool. Use it from one thread. Each returns false
/// when the lease (job, worker) was no longer this worker's: nothing changed.
class Queue {
 public:
  Queue(asio::any_io_executor executor, std::string conninfo, std::size_t connections);
  /// Creates the tables, tq_now() and the NOTIFY trigger if missing (safe to race).
  asio::awaitable<void> create_schema();
  /// Adds a job (and wakes the listening workers); returns its id.
  asio::awaitable<long long> enqueue(NewJob job);
  /// Leases up to `n` due jobs (of `kinds`, or any if empty) to `worker` for `lease`.
  asio::awaitable<std::vector<Job>> claim(std::string worker, int n, milliseconds lease,
                                          std::vector<std::string> kinds);
  asio::awaitable<bool> extend(Job job, std::string worker, milliseconds lease);
  asio::awaitable<bool> complete(Job job, std::string worker);
  /// Back to waiting until now + retry_after, or `dead` after the last attempt.
  asio::awaitable<bool> fail(Job job, std::string worker, std::string error,
                             milliseconds retry_after);
  /// Gives a job back untouched (a worker shutting down): waiting, this attempt not counted.
  asio::awaitable<bool> release(Job job, std::string worker);
  asio::awaitable<Status> status();
  lesson028::Pool& pool() { return pool_; }
  const std::string& conninfo() const { return conninfo_; }

 private:  // pool_.query(), with the pool's TimeoutError made a PgError: "no database"
  asio::awaitable<lesson028::Result> query(std::string sql, std::vector<std::string> params = {});
  std::string conninfo_;
  lesson028::Pool pool_;
};

/// A handler runs one job; it throws to fail it. It may run more than once (see above).
using Handler = std::function<asio::awaitable<void>(Job)>;

struct WorkerOptions {
  std::string name;                  // unique among workers: host:pid by default
  int concurrency = 4;               // handlers running at once, at most
  std::vector<std::string> kinds;    // empty: every kind this worker has a handler for
  milliseconds lease{30'000};        // extended every lease/3 while the handler runs
  milliseconds poll{1'000};          // look anyway this often (delays, expired leases)
  lesson027::RetryPolicy backoff{};  // base, cap: job retries and reconnecting
};

/// One worker process's loop: claims jobs while it has free slots, runs each in the task
/// group (lesson 022), sleeps until a NOTIFY, a finished job or the poll interval. When the
/// Stop is requested it claims nothing more and returns once its jobs have settled.
class Worker {
 public:
  Worker(Queue& queue, WorkerOptions options, std::map<std::string, Handler> handlers);
  /// A lesson022::Service: run it with run_service(), which turns SIGTERM into the Stop.
  asio::awaitable<void> run(lesson022::TaskGroup group, lesson022::Stop stop);
  /// After run() was cancelled (the grace period ran out): gives back the jobs still held.
  asio::awaitable<int> release_held();
  int in_flight() const { return in_flight_; }

 private:
  asio::awaitable<void> listen_until(lesson022::Stop stop);
  asio::awaitable<void> listen();  // LISTEN, and wake() on each NOTIFY, reconnecting
  asio::awaitable<void> run_job(Job job);
  asio::awaitable<std::string> execute(Job job);  // "" or the handler's error
  asio::awaitable<bool> keep_lease(Job job);  // true: the lease was lost; false: cancelled
  asio::awaitable<void> settle(Job job, std::string error);
  void wake();

  Queue& queue_;
  WorkerOptions options_;
  std::map<std::string, Handler> handlers_;
  std::optional<asio::steady_timer> alarm_;  // the claim loop sleeps on it; wake() cancels it
  bool woken_ = false;
  int in_flight_ = 0;
  std::map<long long, Job> held_;
};

}  // namespace lesson031
