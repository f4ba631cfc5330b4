// Lesson 028 demo: a connection pool on a real PostgreSQL server, started for the demo in a
// temporary folder (or yours: TUTORIAL_PG="host=... dbname=... user=...").
//   028_connection_pool                      the demonstration
//   028_connection_pool --bench [options]    queries/s through the pool (--bench --help)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "demo.hpp"
#include "log.hpp"
#include "sleep.hpp"
#include "pool.hpp"
#include "run.hpp"
#include "timeouts.hpp"

using namespace std::chrono_literals;
using namespace lesson028;

int run_bench(int argc, char** argv);  // bench.cpp

namespace {

// `count` callers at once, each one query through the pool; returns the backends that served.
asio::awaitable<std::set<std::string>> callers(Pool* pool, int count) {
  auto executor = co_await asio::this_coro::executor;
  std::set<std::string> backends;
  int left = count;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  for (int i = 0; i < count; ++i) {
    auto one = pool->query("SELECT pg_backend_pid(), pg_sleep(0.1)");
    asio::co_spawn(executor, std::move(one), [&](std::exception_ptr error, Result result) {
      if (error) std::rethrow_exception(error);  // out of run(): the demo fails loudly
      backends.insert(result.scalar());
      if (--left == 0) all_done.cancel();
    });
  }
  co_await all_done.async_wait(compat::as_tuple(asio::use_awaitable));
  co_return backends;
}

asio::awaitable<void> throughput(std::string dsn, std::size_t size, int count) {
  Pool pool(co_await asio::this_coro::executor, dsn, size);
  tut::log("main", "{} callers start at once; connections are opened as they are needed", count);
  auto backends = co_await callers(&pool, count);
  // About 1s on an idle machine; a busy one adds to every round trip (the output check
  // accepts any time on this line).
  const auto took = std::chrono::duration<double>(tut::elapsed()).count();
  tut::log("main", "{} done in about {}s: {} connection(s) opened, {} backend(s) served", count,
           std::lround(took), pool.stats().opened, backends.size());
  co_await pool.close();
}

asio::awaitable<void> holder(Pool* pool, std::string name, milliseconds keep) {
  auto body = [name, keep](Connection*) -> asio::awaitable<void> {
    tut::log(name, "has a connection for {}", tut::seconds(keep));
    co_await tut::sleep(keep);
    tut::log(name, "gives it back");
  };
  co_await async_with(pool->acquire(), std::move(body));
}

asio::awaitable<void> waiter(Pool* pool, std::string name, milliseconds timeout) {
  tut::log(name, "waits in line (timeout {})", tut::seconds(timeout));
  try {
    auto body = [name](Connection*) -> asio::awaitable<void> {
      tut::log(name, "got it");
      co_return;
    };
    co_await async_with(pool->acquire(timeout), std::move(body));
  } catch (const lesson014::TimeoutError&) {
    tut::log(name, "TimeoutError: no connection came back in time");
  }
}

asio::awaitable<void> fairness_and_timeout(std::string dsn) {
  auto executor = co_await asio::this_coro::executor;
  Pool pool(executor, dsn, 1);
  co_await pool.query("SELECT 1");  // open the connection before the clock matters
  tut::reset_clock();
  asio::co_spawn(executor, holder(&pool, "a", 300ms), tut::rethrow);
  asio::co_spawn(executor, waiter(&pool, "b", 1000ms), tut::rethrow);
  asio::co_spawn(executor, waiter(&pool, "c", 100ms), tut::rethrow);
  co_await tut::sleep(200ms);
  asio::co_spawn(executor, waiter(&pool, "d", 1000ms), tut::rethrow);
  co_await tut::sleep(300ms);  // every one of them has finished by then
  co_await pool.close();
}

asio::awaitable<void> cancelled_query(std::string dsn) {
  Pool pool(co_await asio::this_coro::executor, dsn, 1);
  co_await pool.query("SELECT 1");  // open the connection before the clock matters
  tut::reset_clock();
  auto body = [](Connection* conn) -> asio::awaitable<void> {
    tut::log("main", "SELECT pg_sleep(10) with a 0.2s timeout");
    try {
      auto sleeping = conn->query("SELECT pg_sleep(10)");
      co_await lesson014::with_timeout(std::move(sleeping), 200ms);
    } catch (const lesson014::TimeoutError&) {
      tut::log("main", "TimeoutError; queries the server cancelled: {}", conn->cancelled_by_server());
    }
    auto answer = co_await conn->query("SELECT 'the same connection answers at once'");
    tut::log("main", "{}", answer.scalar());
  };
  co_await async_with(pool.acquire(), std::move(body));
  co_await pool.close();
}

asio::awaitable<void> failed_transaction(std::string dsn) {
  Pool pool(co_await asio::this_coro::executor, dsn, 1);
  co_await pool.query("CREATE TEMP TABLE notes (text text)");  // lives as long as the session
  tut::reset_clock();
  auto body = [](Connection* conn) -> asio::awaitable<void> {
    co_await conn->query("BEGIN");
    co_await conn->query("INSERT INTO notes VALUES ('not committed')");
    tut::log("body", "BEGIN, INSERT, then a query that fails");
    co_await conn->query("SELECT 1/0");
  };
  try {
    co_await async_with(pool.acquire(), std::move(body));
  } catch (const PgError& e) {
    tut::log("main", "the body failed: {} (SQLSTATE {})", e.what(), e.sqlstate());
  }
  auto rows = co_await pool.query("SELECT count(*) FROM notes");
  tut::log("main", "rolled back on release: the next lease sees {} rows", rows.scalar());
  co_await pool.close();
}

asio::awaitable<void> killed_backend(std::string dsn) {
  Pool pool(co_await asio::this_coro::executor, dsn, 1);
  auto first = co_await pool.query("SELECT pg_backend_pid()");
  const std::string victim = first.scalar();
  // Another session kills it, and waits until the process has exited (5 s at most).
  auto killer = co_await Connection::open(dsn);
  std::vector<std::string> args{victim};
  co_await killer->query("SELECT pg_terminate_backend($1, 5000)", std::move(args));
  tut::log("main", "pg_terminate_backend killed the pool's only connection");

  auto next = co_await pool.query("SELECT pg_backend_pid()");
  const std::string now = next.scalar();
  tut::log("main", "the next query succeeds on a {} backend; opened {}, discarded {}",
           now == victim ? "the same" : "new", pool.stats().opened, pool.stats().discarded);
  co_await pool.close();
}

asio::awaitable<void> late_caller(Pool* pool) {
  co_await tut::sleep(100ms);
  try {
    co_await pool->acquire();
  } catch (const PoolClosed& e) {
    tut::log("late", "acquire() fails: {}", e.what());
  }
}

asio::awaitable<void> close_with_lease_out(std::string dsn) {
  auto executor = co_await asio::this_coro::executor;
  Pool pool(executor, dsn, 2);
  co_await pool.query("SELECT 1");
  tut::reset_clock();
  asio::co_spawn(executor, holder(&pool, "holder", 200ms), tut::rethrow);
  asio::co_spawn(executor, late_caller(&pool), tut::rethrow);
  tut::log("main", "close() begins: the idle connection is closed at once");
  co_await pool.close();
  tut::log("main", "close() returned: {} open", pool.stats().open);
}

asio::awaitable<void> demo(std::string dsn) {
  tut::part("1. 50 queries of pg_sleep(0.1) through a pool of 5: about 1s");
  co_await throughput(dsn, 5, 50);
  tut::part("2. 10 of them through a pool of 1: one at a time, about 1s (50: 5s)");
  co_await throughput(dsn, 1, 10);
  tut::part("3. acquire() waits in line, first come first served, with a timeout");
  co_await fairness_and_timeout(dsn);
  tut::part("4. a timeout cancels the query on the server too");
  co_await cancelled_query(dsn);
  tut::part("5. a failed transaction is rolled back when the connection comes back");
  co_await failed_transaction(dsn);
  tut::part("6. a backend killed by pg_terminate_backend is replaced");
  co_await killed_backend(dsn);
  tut::part("7. close() with a lease out");
  co_await close_with_lease_out(dsn);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return run_bench(argc - 1, argv + 1);
  if (argc > 1) {
    fmt::print("usage: 028_connection_pool            the demonstration\n"
               "       028_connection_pool --bench    queries/s through the pool (--bench --help)\n"
               "Both start a throwaway PostgreSQL server, or use TUTORIAL_PG (a libpq connection\n"
               "string, e.g. TUTORIAL_PG=\"host=127.0.0.1 port=5432 dbname=me user=me\").\n");
    return std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  try {
    std::unique_ptr<TempServer> server;  // stopped and removed when this block ends
    const std::string dsn = server_conninfo(server);
    fmt::print("PostgreSQL: {}\n", server ? "a throwaway server in a temporary folder" : "TUTORIAL_PG");
    tut::run(demo(dsn));
  } catch (const std::exception& e) {  // caught, so that the server is stopped and removed
    std::fflush(stdout);
    fmt::print(stderr, "028_connection_pool: {}\n", e.what());
    return 1;
  }
}
