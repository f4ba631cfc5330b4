// Project 031: the queue on a real PostgreSQL (lesson 028's TempServer, one per test), first
// its statements in-process, where the database's clock (tq_now(): now() plus a skew the tests
// move) stands in for time, so "retry in 60 s" is checked without waiting; then real worker
// processes (the 031_task_queue program next to this test): exactly once without crashes,
// SIGKILL in the middle of jobs, a server restart, SIGTERM. What ran where is read from the
// database itself: the `record` kind writes one job_runs row per run.
#include "task_queue.hpp"

#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "program.hpp"
#include "queue_how_it_is_built.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace lesson031;
using lesson028::Result;
using lesson028::TempServer;
using tut::test::run_within;

namespace {

bool have_postgres() {
  return tut::test::peer_available(lesson028::postgres_available(),
                                   "PostgreSQL (apt-get install postgresql)");
}

// One query on a connection of its own, from plain test code (blocking the test thread).
Result sql(const std::string& conninfo, std::string text) {
  auto query = [conninfo, text]() -> asio::awaitable<Result> {
    auto connection = co_await lesson028::Connection::open(conninfo);
    co_return co_await connection->query(text);
  };
  return run_within(query(), 30s);
}

long long count(const std::string& conninfo, const std::string& text) {
  return std::stoll(sql(conninfo, text).scalar());
}

// A database with the queue's tables.
std::unique_ptr<TempServer> fresh_server() {
  auto server = std::make_unique<TempServer>();
  auto create = [conninfo = server->conninfo()]() -> asio::awaitable<void> {
    Queue queue(co_await asio::this_coro::executor, conninfo, 1);
    co_await queue.create_schema();
    co_await create_demo_tables(queue);
    co_await queue.pool().close();
  };
  run_within(create(), 30s);
  return server;
}

void enqueue_many(const std::string& conninfo, const std::string& kind, const std::string& payload,
                  int n) {
  sql(conninfo, "INSERT INTO jobs (kind, payload) SELECT '" + kind + "', '" + payload +
                    "' FROM generate_series(1, " + std::to_string(n) + ")");
}

// Polls `condition` every 50 ms until it holds or `limit` passes; returns whether it held.
bool eventually(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::vector<std::string> with_db(std::vector<std::string> first, const std::string& conninfo,
                                 const std::vector<std::string>& more) {
  first.push_back("--db");
  first.push_back(conninfo);
  first.insert(first.end(), more.begin(), more.end());
  return first;
}

// A worker process (or any subcommand): the 031_task_queue program next to this test, its
// stdout and stderr in an anonymous file, not a pipe that nobody reads while the test polls
// the database.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& conninfo, const std::string& name, std::vector<std::string> extra)
      : WorkerProcess(with_db({"worker", "--name", name}, conninfo, extra)) {}
  /// Any subcommand: `arguments` after the program's name.
  explicit WorkerProcess(std::vector<std::string> arguments)
      : program_(tut::test::Program::built("031_task_queue", std::move(arguments), to_log())) {}
  tut::test::Program& program() { return program_; }
  std::string log() const { return log_.contents(); }

 private:
  tut::test::Program::Options to_log() const {
    tut::test::Program::Options options;
    options.out = tut::test::Program::Stdout::descriptor;
    options.out_fd = log_.fd();
    options.err = tut::test::Program::Stderr::to_stdout;
    return options;
  }
  tut::test::TempFile log_;  // before program_: it is created first
  tut::test::Program program_;
};

const std::vector<std::string> quick = {"--poll", "0.2", "--backoff", "0.1"};

std::vector<std::string> with(std::vector<std::string> more) {
  more.insert(more.end(), quick.begin(), quick.end());
  return more;
}

}  // namespace

// ------------------------------------------------------------------------ the statements

TEST_CASE("claim: best priority first, then oldest, a delayed job is not due before its time") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  auto test = [conninfo = server->conninfo()]() -> asio::awaitable<void> {
    Queue queue(co_await asio::this_coro::executor, conninfo, 2);
    const NewJob job1{"echo", "low", 0, 0ms, 5};
    const long long low = co_await queue.enqueue(job1);
    const NewJob job2{"echo", "later", 99, 60'000ms, 5};
    const long long later = co_await queue.enqueue(job2);
    const NewJob job3{"echo", "high", 7, 0ms, 5};
    const long long high = co_await queue.enqueue(job3);
    const NewJob job4{"echo", "low2", 0, 0ms, 5};
    const long long low2 = co_await queue.enqueue(job4);
    const std::vector<std::string> any;
    auto first = co_await queue.claim("a", 1, 3'600'000ms, any);
    REQUIRE(first.size() == 1);
    CHECK(first[0].id == high);
    auto rest = co_await queue.claim("a", 10, 3'600'000ms, any);
    REQUIRE(rest.size() == 2);  // not the delayed one
    CHECK(rest[0].id == low);
    CHECK(rest[1].id == low2);
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '59 s'");
    auto early = co_await queue.claim("a", 10, 3'600'000ms, any);
    CHECK(early.empty());  // a second early (the test's own real time is far less than that)
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '1 s'");
    auto due = co_await queue.claim("a", 10, 3'600'000ms, any);
    REQUIRE(due.size() == 1);
    CHECK(due[0].id == later);
    CHECK(due[0].attempts == 1);
    co_await queue.pool().close();
  };
  run_within(test(), 60s);
}

TEST_CASE("claim: --kinds filters, two claimers never get the same job") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  enqueue_many(server->conninfo(), "sleep", "1", 30);
  enqueue_many(server->conninfo(), "echo", "x", 30);
  auto test = [conninfo = server->conninfo()]() -> asio::awaitable<std::vector<Job>> {
    Queue a(co_await asio::this_coro::executor, conninfo, 1);
    Queue b(co_await asio::this_coro::executor, conninfo, 1);
    std::vector<Job> all;
    const std::vector<std::string> sleeps = {"sleep"}, any;
    for (int i = 0; i < 10; ++i) {
      auto mine = co_await a.claim("a", 4, 60'000ms, sleeps);
      for (const auto& job : mine) CHECK(job.kind == "sleep");
      auto theirs = co_await b.claim("b", 5, 60'000ms, any);
      all.insert(all.end(), mine.begin(), mine.end());
      all.insert(all.end(), theirs.begin(), theirs.end());
    }
    co_await a.pool().close();
    co_await b.pool().close();
    co_return all;
  };
  const auto claimed = run_within(test(), 60s);
  CHECK(claimed.size() == 60);
  std::map<long long, int> times;
  for (const auto& job : claimed) ++times[job.id];
  CHECK(times.size() == 60);  // each job once
  CHECK(count(server->conninfo(), "SELECT count(*) FROM jobs WHERE state = 'running'") == 60);
}

TEST_CASE("lease: an expired lease is claimed again, the old holder can no longer complete it") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  auto test = [conninfo = server->conninfo()]() -> asio::awaitable<void> {
    Queue queue(co_await asio::this_coro::executor, conninfo, 2);
    const NewJob job5{"sleep", "1", 0, 0ms, 5};
    const long long id = co_await queue.enqueue(job5);
    const std::vector<std::string> any;
    auto a = co_await queue.claim("a", 1, 30'000ms, any);
    REQUIRE(a.size() == 1);
    auto none = co_await queue.claim("b", 1, 30'000ms, any);
    CHECK(none.empty());  // leased to a
    const bool extended = co_await queue.extend(a[0], "a", 60'000ms);  // a heartbeat
    CHECK(extended);
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '59 s'");
    none = co_await queue.claim("b", 1, 30'000ms, any);
    CHECK(none.empty());  // the heartbeat moved the lease to 60 s
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '2 s'");
    auto b = co_await queue.claim("b", 1, 30'000ms, any);  // a is presumed dead
    REQUIRE(b.size() == 1);
    CHECK(b[0].id == id);
    CHECK(b[0].attempts == 2);
    const bool a_completed = co_await queue.complete(a[0], "a");
    CHECK_FALSE(a_completed);  // too late: the job is b's now
    const bool a_extended = co_await queue.extend(a[0], "a", 60'000ms);
    CHECK_FALSE(a_extended);
    const bool b_completed = co_await queue.complete(b[0], "b");
    CHECK(b_completed);
    const bool again = co_await queue.complete(b[0], "b");
    CHECK_FALSE(again);  // done once
    co_await queue.pool().close();
  };
  run_within(test(), 60s);
  CHECK(sql(server->conninfo(), "SELECT state || ' ' || worker || ' ' || attempts FROM jobs")
            .scalar() == "done b 2");
}

TEST_CASE("release gives a job back untouched, status counts states and the oldest waiting job") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  auto test = [conninfo = server->conninfo()]() -> asio::awaitable<Status> {
    Queue queue(co_await asio::this_coro::executor, conninfo, 2);
    const NewJob job6{"echo", "one", 0, 0ms, 5};
    const long long first = co_await queue.enqueue(job6);
    const NewJob job7{"echo", "two", 0, 0ms, 5};
    co_await queue.enqueue(job7);
    const NewJob job8{"echo", "later", 0, 3'600'000ms, 5};
    co_await queue.enqueue(job8);
    const std::vector<std::string> any;
    auto jobs = co_await queue.claim("a", 1, 60'000ms, any);
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].id == first);
    const bool released = co_await queue.release(jobs[0], "a");
    CHECK(released);
    jobs = co_await queue.claim("a", 1, 60'000ms, any);
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].id == first);
    CHECK(jobs[0].attempts == 1);  // the released run did not count
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '10 s'");
    Status status = co_await queue.status();
    co_await queue.pool().close();
    co_return status;
  };
  const Status status = run_within(test(), 60s);
  CHECK(status.counts.at("waiting") == 2);
  CHECK(status.counts.at("running") == 1);
  CHECK(status.counts.at("done") == 0);
  CHECK(status.scheduled == 1);
  REQUIRE(status.oldest_waiting);
  CHECK(status.oldest_waiting->payload == "two");
  CHECK(status.oldest_wait >= 10'000ms);
  CHECK_THAT(format_status(status), tut::test::ContainsSubstring("oldest waiting: job 2 (echo two)"));
}

TEST_CASE("enqueue NOTIFYs: a LISTENing connection hears of a new job without polling") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  auto test = [conninfo = server->conninfo()]() -> asio::awaitable<std::string> {
    auto listener = co_await lesson028::Connection::open(conninfo);
    co_await listener->query("LISTEN tq_jobs");
    Queue queue(co_await asio::this_coro::executor, conninfo, 1);
    const NewJob job9{"echo", "hi", 0, 0ms, 5};
    co_await queue.enqueue(job9);
    auto heard = co_await listener->notification();
    co_await queue.pool().close();
    co_return heard.channel;
  };
  CHECK(run_within(test(), 30s) == "tq_jobs");
}

// A Worker in this process, on the database's fake clock: `steps` runs beside it, then stops it.
void with_worker(const std::string& conninfo, WorkerOptions options,
                 std::function<asio::awaitable<void>(Queue&)> steps) {
  auto test = [conninfo, options, steps]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Queue queue(executor, conninfo, 4);
    Worker worker(queue, options, demo_handlers(queue, options.name));
    lesson022::Stop stop(executor);
    auto body = [&worker, &queue, stop, steps](lesson022::TaskGroup group) -> asio::awaitable<void> {
      group.spawn(worker.run(group, stop));
      co_await steps(queue);
      stop.request();
    };
    co_await lesson022::with_task_group(std::move(body));
    co_await queue.pool().close();
  };
  run_within(test(), 90s);
}

// Waits (real time, polling) until `query` returns `wanted`.
asio::awaitable<bool> until(Queue& queue, std::string query, std::string wanted) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 600; ++i) {
    auto result = co_await queue.pool().query(query);
    if (result.scalar() == wanted) co_return true;
    timer.expires_after(50ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return false;
}

TEST_CASE("worker: a failing job is retried on lesson 027's schedule, then dead with its error") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  WorkerOptions options;
  options.name = "w";
  options.concurrency = 2;
  options.poll = 50ms;
  options.backoff.base = 60'000ms;  // 60 s, 120 s: fake time (the skew), checked to the second
  options.backoff.cap = 3'600'000ms;
  with_worker(server->conninfo(), options, [](Queue& queue) -> asio::awaitable<void> {
    const NewJob job10{"fail", "99", 0, 0ms, 3};
    co_await queue.enqueue(job10);
    const char* state = "SELECT state || ' ' || attempts FROM jobs";
    const char* wait_s = "SELECT round(extract(epoch FROM run_at - tq_now()))::int::text FROM jobs";
    bool reached = co_await until(queue, state, "waiting 1");
    REQUIRE(reached);
    auto left = co_await queue.pool().query(wait_s);
    const int first_wait = std::stoi(left.scalar());
    CHECK(first_wait >= 58);
    CHECK(first_wait <= 60);  // backoff_window(attempt 1) = base
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '55 s'");
    asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);  // several polls
    co_await timer.async_wait(asio::use_awaitable);
    auto still = co_await queue.pool().query(state);
    CHECK(still.scalar() == "waiting 1");  // not retried early
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '6 s'");
    reached = co_await until(queue, state, "waiting 2");
    REQUIRE(reached);
    left = co_await queue.pool().query(wait_s);
    const int second_wait = std::stoi(left.scalar());
    CHECK(second_wait >= 118);
    CHECK(second_wait <= 120);  // doubled
    co_await queue.pool().query("UPDATE tq_clock SET skew = skew + interval '121 s'");
    reached = co_await until(queue, state, "dead 3");
    REQUIRE(reached);
    auto error = co_await queue.pool().query("SELECT last_error FROM jobs");
    CHECK(error.scalar() == "failing on purpose (attempt 3 of the 99 that fail)");
  });
}

TEST_CASE("worker: a job that fails once then succeeds is done, a kind it cannot run is dead") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  WorkerOptions options;
  options.name = "w";
  options.kinds = {"fail", "nope"};  // claims "nope" (by default it claims only its handlers')
  options.poll = 50ms;
  options.backoff.base = 10ms;
  with_worker(server->conninfo(), options, [](Queue& queue) -> asio::awaitable<void> {
    const NewJob job11{"fail", "1", 0, 0ms, 3};
    co_await queue.enqueue(job11);
    const NewJob job12{"nope", "", 0, 0ms, 1};
    co_await queue.enqueue(job12);
    const bool settled = co_await until(
        queue, "SELECT string_agg(state || ' ' || attempts, ', ' ORDER BY id) FROM jobs",
        "done 2, dead 1");
    CHECK(settled);
  });
}

TEST_CASE("worker: a job whose lease another worker took is cancelled, not completed, its slot freed") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  WorkerOptions options;
  options.name = "w";
  options.concurrency = 1;  // the second job can run only once the first one's slot is free
  options.lease = 300ms;    // a heartbeat every 100 ms
  options.poll = 50ms;
  with_worker(server->conninfo(), options, [](Queue& queue) -> asio::awaitable<void> {
    const NewJob slow{"record", "60000", 0, 0ms, 5};  // a minute, unless cancelled
    co_await queue.enqueue(slow);
    bool started = co_await until(queue, "SELECT count(*) FROM job_runs", "1");
    REQUIRE(started);
    // What a claim by another worker after an expired lease does to the row (its lease an
    // hour long, so that w cannot claim it back).
    co_await queue.pool().query(
        "UPDATE jobs SET worker = 'thief', attempts = attempts + 1,"
        " lease_until = tq_now() + interval '1 hour'");
    const NewJob quick{"record", "0", 0, 0ms, 5};
    co_await queue.enqueue(quick);
    // Within until()'s 30 s, long before the minute: the heartbeat found the lease gone and
    // cancelled the handler, which freed the slot.
    const bool second_done = co_await until(
        queue, "SELECT string_agg(state || ' ' || coalesce(worker, '-'), ', ' ORDER BY id) FROM jobs",
        "running thief, done w");
    CHECK(second_done);
    auto first_run = co_await queue.pool().query(
        "SELECT (finished_at IS NULL)::text FROM job_runs WHERE job_id = 1");
    CHECK(first_run.scalar() == "true");  // cancelled mid-handler: it never reached its end
  });
}

// ------------------------------------------------------------------------ worker processes

TEST_CASE("processes: three workers run 90 jobs, each exactly once, and stop cleanly on SIGTERM") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  const auto& db = server->conninfo();
  enqueue_many(db, "record", "10", 90);
  std::vector<std::unique_ptr<WorkerProcess>> workers;
  for (const char* name : {"w1", "w2", "w3"})
    workers.push_back(std::make_unique<WorkerProcess>(db, name, with({"--concurrency", "4"})));
  const bool all_done = eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") == 90; }, 60s);
  REQUIRE(all_done);
  CHECK(count(db, "SELECT count(*) FROM job_runs") == 90);
  CHECK(count(db, "SELECT count(DISTINCT job_id) FROM job_runs WHERE finished_at IS NOT NULL") == 90);
  CHECK(count(db, "SELECT count(*) FROM jobs WHERE attempts <> 1") == 0);
  for (auto& worker : workers) worker->program().signal(SIGTERM);
  for (auto& worker : workers) {
    INFO(worker->log());
    CHECK(worker->program().wait(20s).code == 0);
  }
}

TEST_CASE("processes: SIGKILL mid-job loses nothing, another worker completes the killed jobs") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  const auto& db = server->conninfo();
  enqueue_many(db, "record", "400", 24);
  // Lease 1 s: the killed worker's jobs are claimed again a second after its last heartbeat.
  WorkerProcess victim(db, "victim", with({"--concurrency", "4", "--lease", "1"}));
  const bool busy = eventually(
      [&] {
        return count(db, "SELECT count(*) FROM job_runs WHERE worker = 'victim' "
                         "AND finished_at IS NULL") >= 3;
      },
      30s);
  REQUIRE(busy);
  victim.program().signal(SIGKILL);
  const tut::test::Exit killed = victim.program().wait(10s);
  CHECK_FALSE(killed.timed_out);
  CHECK(killed.signal == SIGKILL);
  WorkerProcess survivor(db, "survivor", with({"--concurrency", "4", "--lease", "1"}));
  const bool all_done = eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") == 24; }, 60s);
  INFO(survivor.log());
  REQUIRE(all_done);
  // Every run the kill cut short was run again, to the end, by the survivor, on a new lease.
  const long long cut_short =
      count(db, "SELECT count(*) FROM job_runs WHERE worker = 'victim' AND finished_at IS NULL");
  CHECK(cut_short >= 1);  // usually 4: the kill may fall between one run and the next
  CHECK(count(db, "SELECT count(*) FROM job_runs v JOIN jobs j ON j.id = v.job_id "
                  "WHERE v.worker = 'victim' AND v.finished_at IS NULL "
                  "AND NOT (j.worker = 'survivor' AND j.attempts > v.attempt)") == 0);
  // Never two runs of one job at the same time: a run that ended did so before the next run
  // of its job started (the runs the kill cut short were rerun by the survivor, which was
  // started after the kill).
  CHECK(count(db, "SELECT count(*) FROM job_runs a JOIN job_runs b ON a.job_id = b.job_id "
                  "AND a.id < b.id AND b.started_at < coalesce(a.finished_at, a.started_at)") == 0);
  // Each job's completion belongs to one finished run (its final attempt).
  CHECK(count(db, "SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM job_runs r "
                  "WHERE r.job_id = j.id AND r.attempt = j.attempts AND r.worker = j.worker "
                  "AND r.finished_at IS NOT NULL)") == 0);
  survivor.program().signal(SIGTERM);
  CHECK(survivor.program().wait(20s).code == 0);
}

TEST_CASE("processes: the database restarts mid-run, workers reconnect and finish every job") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  const auto& db = server->conninfo();
  enqueue_many(db, "record", "50", 60);
  WorkerProcess a(db, "a", with({"--concurrency", "3", "--lease", "5"}));
  WorkerProcess b(db, "b", with({"--concurrency", "3", "--lease", "5"}));
  const bool started = eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") >= 5; }, 30s);
  REQUIRE(started);
  server->restart(500ms);  // every connection dropped, refused for half a second
  const bool all_done = eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") == 60; }, 60s);
  INFO(a.log() + b.log());
  REQUIRE(all_done);
  CHECK(a.program().running());
  CHECK(b.program().running());
  CHECK(count(db, "SELECT count(DISTINCT job_id) FROM job_runs WHERE finished_at IS NOT NULL") == 60);
  // A NOTIFY after the restart still wakes them (their listeners reconnected).
  sql(db, "INSERT INTO jobs (kind, payload) VALUES ('record', '0')");
  const bool woke = eventually(
      [&] { return count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") == 61; }, 30s);
  CHECK(woke);
  a.program().signal(SIGTERM);
  b.program().signal(SIGTERM);
  CHECK(a.program().wait(20s).code == 0);
  CHECK(b.program().wait(20s).code == 0);
}

TEST_CASE("processes: SIGTERM finishes short jobs, gives back long ones after the grace, exits 0") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  const auto& db = server->conninfo();
  sql(db, "INSERT INTO jobs (kind, payload) VALUES ('record', '600'), ('record', '60000')");
  WorkerProcess worker(db, "w", with({"--concurrency", "2", "--grace", "1.5"}));
  const bool both = eventually([&] { return count(db, "SELECT count(*) FROM job_runs") == 2; }, 30s);
  REQUIRE(both);
  worker.program().signal(SIGTERM);
  const tut::test::Exit exit = worker.program().wait(30s);
  INFO(worker.log());
  CHECK(exit.code == 0);
  CHECK(sql(db, "SELECT string_agg(state || ' ' || attempts, ', ' ORDER BY id) FROM jobs").scalar() ==
        "done 1, waiting 0");
}

TEST_CASE("the program: enqueue and status from the command line, --help, a wrong subcommand") {
  if (!have_postgres()) return;
  auto server = fresh_server();
  const auto& db = server->conninfo();
  auto run = [](std::vector<std::string> arguments) {
    WorkerProcess program(std::move(arguments));
    const tut::test::Exit exit = program.program().wait(30s);
    return std::to_string(exit.code) + ": " + program.log();
  };
  CHECK(run(with_db({"enqueue", "echo", "hi"}, db, {"--priority", "3"})) == "0: enqueued job 1\n");
  CHECK(run(with_db({"enqueue", "sleep", "10"}, db, {"--delay", "60"})) == "0: enqueued job 2\n");
  CHECK(sql(db, "SELECT kind || ' ' || payload || ' ' || priority FROM jobs WHERE id = 1").scalar() ==
        "echo hi 3");
  const std::string status = run(with_db({"status"}, db, {}));
  CHECK_THAT(status, tut::test::ContainsSubstring("waiting       2  (1 scheduled for later)"));
  CHECK_THAT(status, tut::test::ContainsSubstring("oldest waiting: job 1 (echo hi)"));
  CHECK_THAT(run({"--help"}), tut::test::ContainsSubstring("usage: 031_task_queue"));
  CHECK_THAT(run({"frobnicate"}),
             tut::test::ContainsSubstring("2: 031_task_queue: unknown subcommand"));
}
