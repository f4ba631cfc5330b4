// How it is built: project 031's command line (enqueue, worker, status, the demo) and the demo's
// job kinds. A learner can skip this file: it is plumbing around Queue and Worker, which
// task_queue.cpp teaches. Worker processes are started with posix_spawn (lesson 013) and
// stopped with SIGTERM, which lesson 022's run_service turns into the Stop.
#include "queue_how_it_is_built.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "run.hpp"

extern char** environ;

namespace lesson031 {

namespace {

using namespace std::chrono_literals;

const char* const usage =
    "usage: 031_task_queue [SUBCOMMAND] [options]\n"
    "  (none)                       the demo: a throwaway database, jobs, two worker processes\n"
    "  enqueue KIND PAYLOAD         add a job; KIND is sleep MS, echo TEXT, fail N or record MS\n"
    "      --delay S                not before S seconds from now (default 0)\n"
    "      --priority P             higher runs first (default 0)\n"
    "      --max-attempts N         dead after N failed attempts (default 5)\n"
    "  worker                       run jobs until SIGTERM or Ctrl-C\n"
    "      --concurrency C          jobs at once (default 4)\n"
    "      --kinds a,b              only these kinds (default: all four)\n"
    "      --lease S                lease length, extended every S/3 (default 30)\n"
    "      --poll S                 look for due jobs at least this often (default 1)\n"
    "      --backoff S              first retry delay, doubling up to 300 s (default 1); also\n"
    "                               between reconnections, at most 10 s\n"
    "      --grace S                on SIGTERM, finish jobs for S seconds, then give the\n"
    "                               rest back to the queue (default 10)\n"
    "      --name NAME              this worker's name (default host:pid)\n"
    "  status [--watch]             jobs per state and the oldest waiting job; --watch: every s\n"
    "  --db CONNINFO                the database (libpq string or URI); default: $TASK_QUEUE_DB,\n"
    "                               else libpq's defaults (PGHOST, PGDATABASE, ...)\n"
    "Seconds may be fractions (0.2). Jobs run at least once: see the lesson.\n";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool has(const std::string& name) const { return options.count(name) > 0; }
  std::string get(const std::string& name, std::string fallback) const {
    return has(name) ? options.at(name) : fallback;
  }
  milliseconds seconds(const std::string& name, double fallback) const {
    return milliseconds(static_cast<long long>(std::stod(get(name, std::to_string(fallback))) * 1000));
  }
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--watch" || a == "--help" || a == "-h") {
      args.options.emplace(a, "1");  // (operator= with a literal: a false g++ 12 -O3 warning)
    } else if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      args.options[a] = argv[++i];
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

std::string database(const Args& args) {
  const char* env = std::getenv("TASK_QUEUE_DB");
  return args.get("--db", env != nullptr ? env : "");
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c != ',') {
      item += c;
    } else if (!item.empty()) {
      out.push_back(item);
      item.clear();
    }
  }
  return out;
}

int enqueue_command(const Args& args) {
  if (args.positional.size() != 3) throw std::invalid_argument("enqueue KIND PAYLOAD");
  NewJob job{args.positional[1], args.positional[2], std::stoi(args.get("--priority", "0")),
             args.seconds("--delay", 0), std::stoi(args.get("--max-attempts", "5"))};
  const std::string db = database(args);
  auto main = [job, db]() -> asio::awaitable<long long> {
    Queue queue(co_await asio::this_coro::executor, db, 1);
    co_await queue.create_schema();
    co_await create_demo_tables(queue);
    const long long id = co_await queue.enqueue(job);
    co_await queue.pool().close();
    co_return id;
  };
  fmt::print("enqueued job {}\n", tut::run(main()));
  return 0;
}

int worker_command(const Args& args) {
  WorkerOptions options;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  options.name = args.get("--name", std::string(host) + ":" + std::to_string(::getpid()));
  options.concurrency = std::stoi(args.get("--concurrency", "4"));
  options.kinds = split_list(args.get("--kinds", ""));
  options.lease = args.seconds("--lease", 30);
  options.poll = args.seconds("--poll", 1);
  options.backoff.base = args.seconds("--backoff", 1);
  options.backoff.cap = 300s;
  const milliseconds grace = args.seconds("--grace", 10);
  const std::string db = database(args);
  auto main = [options, grace, db]() -> asio::awaitable<int> {
    Queue queue(co_await asio::this_coro::executor, db, options.concurrency + 2);
    for (int attempt = 1;; ++attempt) {  // the database may still be starting
      try {
        co_await queue.create_schema();
        co_await create_demo_tables(queue);
        break;
      } catch (const lesson028::PgError& e) {
        if (attempt == 10) throw;
        fmt::print(stderr, "{}: cannot reach the database ({}); trying again\n", options.name, e.what());
      }
      co_await pause(lesson027::backoff_window(options.backoff, attempt));
    }
    Worker worker(queue, options, demo_handlers(queue, options.name));
    lesson022::Service service = [&worker](lesson022::TaskGroup group, lesson022::Stop stop) {
      return worker.run(group, stop);
    };
    fmt::print(stderr, "{}: started, {} at once\n", options.name, options.concurrency);
    const lesson022::Ending ending = co_await lesson022::run_service(service, grace);
    const int held = static_cast<int>(worker.in_flight());
    const int released = co_await worker.release_held();
    fmt::print(stderr, "{}: stopped ({}), {} job(s) given back to the queue\n", options.name,
               lesson022::to_string(ending), released);
    co_await queue.pool().close();
    // 0: every job held was finished or given back; 1: some are left to their lease.
    co_return ending == lesson022::Ending::forced && released < held ? 1 : 0;
  };
  return tut::run(main());
}

int status_command(const Args& args) {
  const std::string db = database(args);
  const bool watch = args.has("--watch");
  auto main = [db, watch]() -> asio::awaitable<void> {
    Queue queue(co_await asio::this_coro::executor, db, 1);
    bool schema = false;
    for (;;) {
      std::string text;
      try {  // --watch outlives a database restart: it says so, and tries again
        if (!schema) co_await queue.create_schema();
        schema = true;
        const Status status = co_await queue.status();
        text = format_status(status);
      } catch (const lesson028::PgError& e) {
        if (!watch) throw;
        text = fmt::format("database unreachable ({}); trying again\n", e.what());
      }
      if (watch && ::isatty(1)) fmt::print("\033[H\033[2J");  // clear the terminal
      fmt::print("{}", text);
      std::fflush(stdout);
      if (!watch) break;
      co_await pause(1s);
    }
    co_await queue.pool().close();
  };
  tut::run(main());
  return 0;
}

// ------------------------------------------------------------------------------ the demo

pid_t start_worker(const std::string& db, const std::string& name) {
  const std::string self = "/proc/self/exe";
  std::vector<std::string> argv = {"031_task_queue", "worker", "--db", db, "--name", name,
                                   "--concurrency", "2", "--poll", "0.5", "--backoff", "0.2",
                                   "--lease", "5"};
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);  // its chatter to stderr: stdout is the demo's
  pid_t pid = -1;
  const int error = posix_spawn(&pid, self.c_str(), &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("cannot start a worker: " + std::to_string(error));
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

asio::awaitable<void> demo(std::string db) {
  Queue queue(co_await asio::this_coro::executor, db, 2);
  co_await queue.create_schema();
  co_await create_demo_tables(queue);
  const std::vector<NewJob> jobs = {
      {"echo", "hello", 0, 0ms, 5},          {"sleep", "300", 0, 0ms, 5},
      {"sleep", "300", 0, 0ms, 5},           {"sleep", "300", 0, 0ms, 5},
      {"echo", "urgent", 10, 0ms, 5},        {"echo", "in a second", 0, 1000ms, 5},
      {"fail", "1", 0, 0ms, 3},              {"fail", "99", 0, 0ms, 2},
      {"record", "100", 5, 0ms, 5},
  };
  for (const auto& job : jobs) {
    const long long id = co_await queue.enqueue(job);
    fmt::print("enqueued job {}: {} {}{}{}\n", id, job.kind, job.payload,
               job.priority != 0 ? fmt::format(", priority {}", job.priority) : "",
               job.delay.count() != 0 ? fmt::format(", in {} ms", job.delay.count()) : "");
  }
  const pid_t first = start_worker(db, "worker-1");
  const pid_t second = start_worker(db, "worker-2");
  fmt::print("started 2 worker processes, 2 jobs at once each\n");
  std::fflush(stdout);
  for (int waited = 0;; ++waited) {  // until nothing is waiting or running (60 s at most)
    const Status status = co_await queue.status();
    if (status.counts.at("waiting") + status.counts.at("running") == 0 || waited > 600) break;
    co_await pause(100ms);
  }
  ::kill(first, SIGTERM);
  ::kill(second, SIGTERM);
  fmt::print("worker-1 stopped by SIGTERM, exit status {}\n", wait_exit(first));
  fmt::print("worker-2 stopped by SIGTERM, exit status {}\n", wait_exit(second));
  fmt::print("\n{}\n", format_status(co_await queue.status()));
  auto rows = co_await queue.pool().query(
      "SELECT id, kind, payload, state, attempts, coalesce(last_error, '') FROM jobs ORDER BY id");
  fmt::print("{:>3}  {:<7} {:<12} {:<6} {:>8}  {}\n", "id", "kind", "payload", "state", "attempts",
             "last error");
  for (const auto& row : rows.rows) {
    std::string line = fmt::format("{:>3}  {:<7} {:<12} {:<6} {:>8}  {}", *row[0], *row[1], *row[2],
                                   *row[3], *row[4], *row[5]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  }
  co_await queue.pool().close();
}

}  // namespace

std::map<std::string, Handler> demo_handlers(Queue& queue, std::string worker) {
  std::map<std::string, Handler> handlers;
  handlers["sleep"] = [](Job job) -> asio::awaitable<void> {
    const milliseconds delay(std::stoll(job.payload));
    if (delay > 0ms) {
      co_await pause(delay);
    } else {  // like asyncio.sleep(0): one turn of the loop, no timer (lesson 015)
      auto executor = co_await asio::this_coro::executor;
      co_await asio::post(executor, asio::use_awaitable);
    }
  };
  handlers["echo"] = [](Job job) -> asio::awaitable<void> {
    fmt::print("{}\n", job.payload);
    std::fflush(stdout);
    co_return;
  };
  handlers["fail"] = [](Job job) -> asio::awaitable<void> {
    const int failures = std::stoi(job.payload);
    if (job.attempts <= failures)
      throw std::runtime_error(fmt::format("failing on purpose (attempt {} of the {} that fail)",
                                           job.attempts, failures));
    co_return;
  };
  Queue* q = &queue;  // outlives the worker and its handlers
  handlers["record"] = [q, worker](Job job) -> asio::awaitable<void> {
    std::vector<std::string> params = {std::to_string(job.id), std::to_string(job.attempts), worker};
    auto run = co_await q->pool().query(
        "INSERT INTO job_runs (job_id, attempt, worker) VALUES ($1, $2, $3) RETURNING id", params);
    co_await pause(milliseconds(std::stoll(job.payload)));
    std::vector<std::string> finished = {run.scalar()};
    co_await q->pool().query("UPDATE job_runs SET finished_at = clock_timestamp() WHERE id = $1",
                             finished);
  };
  return handlers;
}

asio::awaitable<void> create_demo_tables(Queue& queue) {
  co_await queue.pool().query(
      "DO $do$ BEGIN PERFORM pg_advisory_xact_lock(31031); "
      "CREATE TABLE IF NOT EXISTS job_runs (id bigserial PRIMARY KEY, job_id bigint NOT NULL,"
      " attempt int NOT NULL, worker text NOT NULL,"
      " started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz); "
      "END $do$");
}

std::string format_status(const Status& status) {
  std::string out;
  for (const char* state : {"waiting", "running", "done", "dead"})
    out += fmt::format("{:<8} {:>6}{}\n", state, status.counts.count(state) ? status.counts.at(state) : 0,
                       std::string(state) == "waiting" && status.scheduled > 0
                           ? fmt::format("  ({} scheduled for later)", status.scheduled)
                           : "");
  if (status.oldest_waiting)
    out += fmt::format("oldest waiting: job {} ({} {}), due {:.1f} s ago\n", status.oldest_waiting->id,
                       status.oldest_waiting->kind, status.oldest_waiting->payload,
                       status.oldest_wait.count() / 1000.0);
  else
    out += "oldest waiting: none\n";
  return out;
}

int run_program(int argc, char** argv) {
  try {
    const Args args = parse(argc, argv);
    if (args.has("--help") || args.has("-h")) {
      fmt::print("{}", usage);
      return 0;
    }
    const std::string command = args.positional.empty() ? "" : args.positional[0];
    if (command == "enqueue") return enqueue_command(args);
    if (command == "worker") return worker_command(args);
    if (command == "status") return status_command(args);
    if (!command.empty()) throw std::invalid_argument("unknown subcommand " + command);
    std::unique_ptr<lesson028::TempServer> server;
    const std::string db = args.has("--db") ? args.get("--db", "") : lesson028::server_conninfo(server);
    tut::run(demo(db));
    return 0;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "031_task_queue: {}\n{}", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "031_task_queue: {}\n", e.what());
    return 1;
  }
}

}  // namespace lesson031
