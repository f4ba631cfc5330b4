// How it is built: project 031's schema and its smaller statements (enqueue, extend, release,
// status). A learner can skip this file: task_queue.cpp holds the claim, complete and fail
// statements and the worker, which are the lesson; these follow the same pattern.
#include <string>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "task_queue.hpp"

namespace lesson031 {

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

// Every change to a claimed job names its lease (as in task_queue.cpp).
const char* const held = " WHERE id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'"
                         " RETURNING id";

std::string ms(milliseconds d) { return std::to_string(d.count()); }

}  // namespace

Queue::Queue(asio::any_io_executor executor, std::string conninfo, std::size_t connections)
    : conninfo_(conninfo), pool_(std::move(executor), std::move(conninfo), connections) {}

asio::awaitable<void> Queue::create_schema() { co_await pool_.query(schema_sql); }

asio::awaitable<long long> Queue::enqueue(NewJob job) {
  // The trigger NOTIFYs in the same transaction: workers hear of the job once it is visible.
  const char* sql = "INSERT INTO jobs (kind, payload, priority, run_at, max_attempts) VALUES "
                    "($1, $2, $3, tq_now() + $4::bigint * interval '1 ms', $5) RETURNING id";
  std::vector<std::string> params = {job.kind, job.payload, std::to_string(job.priority), ms(job.delay), std::to_string(job.max_attempts)};
  auto rows = co_await pool_.query(sql, params);
  co_return std::stoll(rows.scalar());
}

asio::awaitable<bool> Queue::extend(Job job, std::string worker, milliseconds lease) {
  auto sql = std::string("UPDATE jobs SET lease_until = tq_now() + $4::bigint * interval '1 ms'") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts), ms(lease)};
  auto rows = co_await pool_.query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<bool> Queue::release(Job job, std::string worker) {
  auto sql = std::string("UPDATE jobs SET state = 'waiting', attempts = attempts - 1, "
                         "lease_until = NULL") + held;
  std::vector<std::string> params = {std::to_string(job.id), worker, std::to_string(job.attempts)};
  auto rows = co_await pool_.query(sql, params);
  co_return !rows.rows.empty();
}

asio::awaitable<Status> Queue::status() {
  Status status;
  for (const char* state : {"waiting", "running", "done", "dead"}) status.counts[state] = 0;
  auto counts = co_await pool_.query(
      "SELECT state, count(*), count(*) FILTER (WHERE state = 'waiting' AND run_at > tq_now()) "
      "FROM jobs GROUP BY state");
  for (const auto& row : counts.rows) {
    status.counts[*row[0]] = std::stoll(*row[1]);
    status.scheduled += std::stoll(*row[2]);
  }
  auto oldest = co_await pool_.query(
      "SELECT id, kind, payload, priority, attempts, max_attempts,"
      " (extract(epoch FROM tq_now() - run_at) * 1000)::bigint FROM jobs"
      " WHERE state = 'waiting' AND run_at <= tq_now() ORDER BY run_at, id LIMIT 1");
  if (!oldest.rows.empty()) {
    const auto& row = oldest.rows[0];
    status.oldest_waiting = Job{std::stoll(*row[0]), *row[1], *row[2], std::stoi(*row[3]),
                                std::stoi(*row[4]), std::stoi(*row[5])};
    status.oldest_wait = milliseconds(std::stoll(*row[6]));
  }
  co_return status;
}

asio::awaitable<void> Worker::pause(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace lesson031
