// How it is built: `028_connection_pool --bench`, the pool's side of bench/pool_bench.sh
// (which runs it next to `pgbench -S` and an asyncpg pool). A learner can skip this file:
// it is command-line plumbing around the same Pool::query the lesson teaches.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "pool.hpp"
#include "run.hpp"

using namespace lesson028;

namespace {

struct Options {
  int clients = 32;
  std::size_t pool = 8;
  double seconds = 5, warmup = 1;
  std::string dsn;           // empty: TUTORIAL_PG, else a throwaway server
  bool pgbench_select = false;  // pgbench -S's statement on pgbench_accounts
  int scale = 1;             // pgbench -i -s: 100000 accounts per unit
};

struct Shared {
  bool measuring = false, stop = false;
  long queries = 0;
  int running = 0;
  std::exception_ptr error;
};

asio::awaitable<void> client(Pool* pool, Options options, Shared* shared, unsigned seed) {
  std::minstd_rand random(seed);
  std::uniform_int_distribution<int> aid(1, 100000 * options.scale);
  std::string sql = "SELECT $1::int";
  if (options.pgbench_select) sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
  while (!shared->stop) {
    std::vector<std::string> params{std::to_string(aid(random))};
    auto answer = co_await pool->query(sql, std::move(params));
    if (answer.rows.size() != 1) throw PgError("expected one row");
    if (shared->measuring) ++shared->queries;
  }
}

asio::awaitable<void> sleep_for(double seconds) {
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds)));
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<double> measure(Options options) {
  auto executor = co_await asio::this_coro::executor;
  Pool pool(executor, options.dsn, options.pool);
  Shared shared;
  asio::steady_timer all_stopped(executor, asio::steady_timer::time_point::max());
  for (int i = 0; i < options.clients; ++i) {
    ++shared.running;
    asio::co_spawn(executor, client(&pool, options, &shared, 1234u + i),
                   [&](std::exception_ptr error) {
                     if (error && !shared.error) shared.error = error;
                     if (error) shared.stop = true;
                     if (--shared.running == 0) all_stopped.cancel();
                   });
  }
  co_await sleep_for(options.warmup);
  shared.measuring = true;
  const auto start = std::chrono::steady_clock::now();
  co_await sleep_for(options.seconds);
  const long queries = shared.queries;
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  shared.stop = true;
  while (shared.running > 0) co_await all_stopped.async_wait(compat::as_tuple(asio::use_awaitable));
  co_await pool.close();
  if (shared.error) std::rethrow_exception(shared.error);
  co_return queries / took.count();
}

}  // namespace

int run_bench(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--clients" && has_value) options.clients = std::atoi(argv[++i]);
    else if (arg == "--pool" && has_value) options.pool = std::strtoul(argv[++i], nullptr, 10);
    else if (arg == "--seconds" && has_value) options.seconds = std::atof(argv[++i]);
    else if (arg == "--warmup" && has_value) options.warmup = std::atof(argv[++i]);
    else if (arg == "--dsn" && has_value) options.dsn = argv[++i];
    else if (arg == "--pgbench-select" && has_value) {
      options.pgbench_select = true;
      options.scale = std::atoi(argv[++i]);
    } else {
      fmt::print(arg == "--help" ? stdout : stderr,
                 "usage: 028_connection_pool --bench [--clients 32] [--pool 8] [--seconds 5]\n"
                 "           [--warmup 1] [--dsn CONNINFO] [--pgbench-select SCALE]\n"
                 "Callers loop on a one-row query through one Pool on one thread; prints\n"
                 "queries/s over --seconds after --warmup. The query is SELECT $1::int, or with\n"
                 "--pgbench-select pgbench -S's SELECT abalance FROM pgbench_accounts WHERE\n"
                 "aid = $1 (tables made by pgbench -i -s SCALE). Without --dsn: TUTORIAL_PG,\n"
                 "else a throwaway server. bench/pool_bench.sh compares it with pgbench -S and\n"
                 "asyncpg.\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  if (options.clients < 1 || options.pool < 1 || options.seconds <= 0) {
    fmt::print(stderr, "--clients, --pool and --seconds must be positive\n");
    return 2;
  }
  std::unique_ptr<TempServer> server;
  if (options.dsn.empty()) options.dsn = server_conninfo(server);
  try {
    const double rate = tut::run(measure(options));
    fmt::print("pool: {} callers, {} connections, {:.1f}s: {:.0f} queries/s\n", options.clients,
               options.pool, options.seconds, rate);
  } catch (const std::exception& e) {
    fmt::print(stderr, "028_connection_pool --bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
