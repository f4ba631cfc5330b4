// How it is built: project 031's schema, its smaller statements (enqueue, extend, release,
// status) and the worker's bookkeeping (a handler's exception as text, giving jobs back). A
// learner can skip this file: task_queue.cpp holds the claim, complete and fail statements and
// the worker's loop, which are the lesson; these follow the same patterns.
#include <algorithm>
#include <exception>
#include <string>
#include <system_error>

#include <asio/error.hpp>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/core.h>

#include "compat.hpp"
#include "queue_how_it_is_built.hpp"
#include "timeouts.hpp"  // lesson 014: TimeoutError
#include "task_queue.hpp"

namespace lesson031 {

using lesson028::PgError;

namespace {

// One statement (a DO block), so it runs whole or not at all; the advisory lock makes two
// processes creating the schema at once take turns instead of failing.
const char* const schema_sql = R"(DO $do$ BEGIN
  PERFORM pg_advisory_xact_lock(31031);
  CREATE TABLE IF NOT EXISTS tq_clock (one bool PRIMARY KEY DEFAULT true CHECK (one),
                                       skew interval NOT NULL DEFAULT '0');
  INSERT INTO tq_clock DEFAULT VALUES ON CONFLICT DO NOTHING;
  CREATE OR REPLACE FUNCTION tq_now() RETURNS timestamptz LANGUAGE sql STABLE
    AS $f$ SELECT now() + skew FROM tq_clock $f$;
  CREATE TABLE IF NOT EXISTS jobs (
    id bigserial PRIMARY KEY, kind text NOT NULL, payload text NOT NULL DEFAULT '',
    priority int NOT NULL DEFAULT 0, run_at timestamptz NOT NULL DEFAULT tq_now(),
    state text NOT NULL DEFAULT 'waiting'
      CHECK (state IN ('waiting', 'running', 'done', 'dead')),
    attempts int NOT NULL DEFAULT 0, max_attempts int NOT NULL DEFAULT 5,
    lease_until timestamptz, worker text, last_error text,
    created_at timestamptz NOT NULL DEFAULT tq_now(), finished_at timestamptz);
  CREATE INDEX IF NOT EXISTS jobs_due ON jobs (priority DESC, run_at, id)
    WHERE state IN ('waiting', 'running');
  CREATE OR REPLACE FUNCTION tq_notify() RETURNS trigger LANGUAGE plpgsql
    AS $f$ BEGIN PERFORM pg_notify('tq_jobs', ''); RETURN NULL; END $f$;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'jobs_notify') THEN
    CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
      FOR EACH STATEMENT EXECUTE FUNCTION tq_notify();
  END IF;
END $do$)";

}  // namespace

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

Job job_from(const std::vector<std::optional<std::string>>& row) {
  return Job{std::stoll(*row[0]), *row[1], *row[2], std::stoi(*row[3]), std::stoi(*row[4]),
             std::stoi(*row[5])};
}

milliseconds reconnect_delay(const WorkerOptions& options, int failures) {
  return std::min(lesson027::backoff_window(options.backoff, failures), milliseconds(10'000));
}

void say(const std::string& worker, const std::string& text) {
  fmt::print(stderr, "{}: {}\n", worker, text);
}

Queue::Queue(asio::any_io_executor executor, std::string conninfo, std::size_t connections)
    : conninfo_(conninfo), pool_(std::move(executor), std::move(conninfo), connections) {}

asio::awaitable<void> Queue::create_schema() { co_await query(schema_sql); }

asio::awaitable<lesson028::Result> Queue::query(std::string sql,
                                                std::vector<std::string> params) {
  bool timed_out = false;
  try {
    co_return co_await pool_.query(std::move(sql), std::move(params));
  } catch (const lesson014::TimeoutError&) {
    timed_out = true;  // every connection busy, or connecting hung, for the pool's 30 s
  }
  if (timed_out) throw PgError("no connection to the database within the pool's timeout");
  co_return lesson028::Result{};
}

asio::awaitable<long long> Queue::enqueue(NewJob job) {
  // The trigger NOTIFYs in the same transaction: workers hear of the job once it is visible.
  const char* sql = "INSERT INTO jobs (kind, payload, priority, run_at, max_attempts) VALUES "
                    "($1, $2, $3, tq_now() + $4::bigint * interval '1 ms', $5) RETURNING id";
  std::vector<std::string> params = {job.kind, job.payload, std::to_string(job.priority),
                                     ms(job.delay), std::to_string(job.max_attempts)};
  auto rows = co_await query(sql, params);
  co_return std::stoll(rows.scalar());
}

asio::awaitable<bool> Queue::extend(Job job, std::string worker, milliseconds lease) {
  auto sql = std::string("UPDATE jobs SET lease_until = tq_now() + $4::bigint * interval '1 ms'") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts), ms(lease)};
  auto rows = co_await query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<bool> Queue::release(Job job, std::string worker) {
  auto sql = std::string("UPDATE jobs SET state = 'waiting', attempts = attempts - 1, "
                         "lease_until = NULL") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts)};
  auto rows = co_await query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<Status> Queue::status() {
  Status status;
  for (const char* state : {"waiting", "running", "done", "dead"}) status.counts[state] = 0;
  auto counts = co_await query(
      "SELECT state, count(*), count(*) FILTER (WHERE state = 'waiting' AND run_at > tq_now()) "
      "FROM jobs GROUP BY state");
  for (const auto& row : counts.rows) {
    status.counts[*row[0]] = std::stoll(*row[1]);
    status.scheduled += std::stoll(*row[2]);
  }
  auto oldest = co_await query(
      "SELECT id, kind, payload, priority, attempts, max_attempts,"
      " (extract(epoch FROM tq_now() - run_at) * 1000)::bigint FROM jobs"
      " WHERE state = 'waiting' AND run_at <= tq_now() ORDER BY run_at, id LIMIT 1");
  if (!oldest.rows.empty()) {
    status.oldest_waiting = job_from(oldest.rows[0]);
    status.oldest_wait = milliseconds(std::stoll(*oldest.rows[0][6]));
  }
  co_return status;
}

asio::awaitable<void> pause(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<bool> pause_quietly(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  auto [error] = co_await timer.async_wait(compat::as_tuple(asio::use_awaitable));
  co_return !error;
}

// ------------------------------------------------------------------------------ Worker

Worker::Worker(Queue& queue, WorkerOptions options, std::map<std::string, Handler> handlers)
    : queue_(queue), options_(std::move(options)), handlers_(std::move(handlers)) {
  if (options_.kinds.empty())
    for (const auto& [kind, handler] : handlers_) options_.kinds.push_back(kind);
}

asio::awaitable<std::string> Worker::execute(Job job) {
  std::exception_ptr failure;
  try {
    const Handler& handler = handlers_.at(job.kind);
    co_await handler(job);
  } catch (const std::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;  // a cancellation is no failure
    failure = std::current_exception();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) co_return std::string();
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    co_return std::string(e.what());
  } catch (...) {
    co_return std::string("an unknown exception");
  }
}

asio::awaitable<int> Worker::release_held() {
  int released = 0;
  for (const auto& [id, job] : held_) {
    try {
      const bool ours = co_await queue_.release(job, options_.name);
      released += ours ? 1 : 0;
    } catch (const PgError&) {
      // Unreachable database: the lease will expire and another worker will run it.
    }
  }
  held_.clear();
  co_return released;
}

}  // namespace lesson031
