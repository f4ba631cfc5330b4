// Lesson 028 tests: the pool against a real PostgreSQL server. Each test process starts one
// throwaway server (a copy of a cluster template made once per build folder: bin/028-pg-template)
// and stops and removes it when the process ends, also when a test fails; TUTORIAL_PG=<conninfo>
// uses an existing server instead. Without PostgreSQL the tests skip (and fail in CI).
#include <functional>
#include <string>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "pool.hpp"
#include "sleep.hpp"
#include "errors.hpp"
#include "test_support.hpp"
#include "timeouts.hpp"

using namespace std::chrono_literals;
using namespace lesson028;
using tut::test::run_within;

namespace {

// The server for this test process, started on first use; "" if PostgreSQL is missing (the
// test then skips, or fails under TUTORIAL_NO_SKIP).
std::string database() {
  if (!tut::test::peer_available(postgres_available(), "PostgreSQL (apt-get install postgresql)"))
    return "";
  static std::unique_ptr<TempServer> server;  // destroyed at exit: the server stops
  static const std::string dsn = server_conninfo(server);
  return dsn;
}

constexpr auto limit = std::chrono::seconds(25);

// Waits until `condition` holds (a task started with co_spawn may not have run yet).
asio::awaitable<void> until(std::function<bool()> condition) {
  while (!condition()) co_await tut::sleep(1ms);
}

std::string pid_of(const Result& result) { return result.scalar(); }

// A task whose end the test can await: the exception it ended with (null if none).
struct Task {
  explicit Task(asio::any_io_executor executor)
      : finished(std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max())) {}
  std::shared_ptr<asio::steady_timer> finished;
  std::shared_ptr<bool> done = std::make_shared<bool>(false);
  std::shared_ptr<std::exception_ptr> error = std::make_shared<std::exception_ptr>();
  asio::cancellation_signal signal;

  template <typename T>
  void start(asio::awaitable<T> work) {
    auto handler = [finished = finished, done = done, error = error](std::exception_ptr e, auto&&...) {
      *error = e;
      *done = true;
      finished->cancel();
    };
    asio::co_spawn(finished->get_executor(), std::move(work),
                   asio::bind_cancellation_slot(signal.slot(), std::move(handler)));
  }
  asio::awaitable<std::exception_ptr> wait() {
    while (!*done) co_await finished->async_wait(compat::as_tuple(asio::use_awaitable));
    co_return *error;
  }
};

// Polls pg_stat_activity until backend `pid` is in `state` ("active": running a query).
asio::awaitable<void> wait_for_state(Connection* watcher, std::string pid, std::string state) {
  for (;;) {
    std::vector<std::string> args{pid};
    auto now = co_await watcher->query(
        "SELECT coalesce(max(state), 'gone') FROM pg_stat_activity WHERE pid = $1", args);
    if (now.scalar() == state) co_return;
    co_await tut::sleep(10ms);
  }
}

using tut::test::message_of;

}  // namespace

TEST_CASE("a query returns its rows, parameters travel apart from the SQL") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto conn = co_await Connection::open(dsn);
    const std::string evil = "'); DROP TABLE x; --";
    std::vector<std::string> args{"41", evil};
    auto result = co_await conn->query("SELECT $1::int + 1 AS n, NULL::text AS nothing, $2 AS text",
                                       args);
    REQUIRE(result.rows.size() == 1);
    CHECK(result.columns == std::vector<std::string>{"n", "nothing", "text"});
    CHECK(result.rows[0][0] == "42");
    CHECK_FALSE(result.rows[0][1].has_value());
    CHECK(result.rows[0][2] == evil);
    CHECK(conn->backend_pid() > 0);
  };
  run_within(test(), limit);
}

TEST_CASE("a wrong connection string or an unreachable server gives a clear error") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = []() -> asio::awaitable<void> {
    std::string syntax, refused;
    try {
      co_await Connection::open("this is not a connection string");
    } catch (const PgError& e) {
      syntax = e.what();
    }
    CHECK_THAT(syntax, tut::test::ContainsSubstring("missing \"=\""));
    // Port 1 on 127.0.0.1: nobody listens there.
    Pool pool(co_await asio::this_coro::executor, "host=127.0.0.1 port=1 dbname=x user=x", 2);
    try {
      co_await pool.query("SELECT 1");
    } catch (const PgError& e) {
      refused = e.what();
    }
    CHECK_THAT(refused, tut::test::ContainsSubstring("Connection refused"));
    CHECK(pool.stats().open == 0);  // the slot was given back
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a query error is a PgError with its SQLSTATE, and the connection stays usable") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    std::string state, message;
    try {
      co_await pool.query("SELEC 1");
    } catch (const PgError& e) {
      state = e.sqlstate();
    }
    CHECK(state == "42601");  // syntax_error
    try {
      std::vector<std::string> zero{"0"};
      co_await pool.query("SELECT 1 / $1::int", std::move(zero));
    } catch (const PgError& e) {
      state = e.sqlstate();
      message = e.what();
    }
    CHECK(state == "22012");
    CHECK(message == "division by zero");
    auto after = co_await pool.query("SELECT 'fine'");
    CHECK(after.scalar() == "fine");
    CHECK(pool.stats().opened == 1);  // the same connection all along
    CHECK(pool.stats().discarded == 0);
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("connections are opened lazily, never more than max_size") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 3);
    CHECK(pool.stats().open == 0);
    co_await pool.query("SELECT 1");
    CHECK(pool.stats().opened == 1);  // one caller, one connection
    std::vector<std::unique_ptr<Task>> tasks;
    for (int i = 0; i < 10; ++i) {
      tasks.push_back(std::make_unique<Task>(executor));
      tasks.back()->start(pool.query("SELECT pg_sleep(0.05)"));
    }
    auto all_started = [&pool] { return pool.stats().waiting == 7; };
    co_await until(all_started);
    CHECK(pool.stats().open == 3);
    for (auto& task : tasks) {
      auto error = co_await task->wait();
      CHECK(message_of(error) == "");
    }
    CHECK(pool.stats().opened == 3);
    CHECK(pool.stats().idle == 3);
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("acquire() serves callers first come, first served, a newcomer cannot jump the line") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 1);
    std::vector<std::string> order;
    auto lease = co_await pool.acquire();
    auto take = [&pool, &order](std::string name) -> asio::awaitable<void> {
      auto body = [&order, name](Connection*) -> asio::awaitable<void> {
        order.push_back(name);
        co_return;
      };
      co_await async_with(pool.acquire(), std::move(body));
    };
    Task first(executor), second(executor), third(executor);
    first.start(take("first"));
    second.start(take("second"));
    third.start(take("third"));
    auto all_waiting = [&pool] { return pool.stats().waiting == 3; };
    co_await until(all_waiting);
    co_await lease.exit(nullptr);  // give it back: it goes to "first", not to the idle list
    // A newcomer arriving now, before "first" has even resumed, queues behind them all.
    Task newcomer(executor);
    newcomer.start(take("newcomer"));
    co_await first.wait();
    co_await second.wait();
    co_await third.wait();
    co_await newcomer.wait();
    CHECK(order == std::vector<std::string>{"first", "second", "third", "newcomer"});
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("acquire() throws TimeoutError when no connection comes back in time, and leaves the line") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    auto lease = co_await pool.acquire();
    bool timed_out = false;
    try {
      co_await pool.acquire(50ms);
    } catch (const lesson014::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(pool.stats().waiting == 0);
    co_await lease.exit(nullptr);
    CHECK(pool.stats().idle == 1);  // back to the pool, not to the waiter that left
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a cancelled acquire() leaves the line") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 1);
    auto lease = co_await pool.acquire();
    Task waiting(executor);
    waiting.start(pool.acquire());
    auto in_line = [&pool] { return pool.stats().waiting == 1; };
    co_await until(in_line);
    waiting.signal.emit(asio::cancellation_type::terminal);
    auto error = co_await waiting.wait();
    CHECK(tut::is_cancellation(error));
    CHECK(pool.stats().waiting == 0);
    co_await lease.exit(nullptr);
    CHECK(pool.stats().idle == 1);
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a lease gives its connection back when the body returns, throws or is cancelled") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 1);
    auto returns = [](Connection* conn) { return conn->query("SELECT 1"); };
    co_await async_with(pool.acquire(), std::move(returns));
    CHECK(pool.stats().idle == 1);
    CHECK(pool.stats().leased == 0);
    auto throws = [](Connection*) -> asio::awaitable<void> {
      throw std::runtime_error("body failed");
      co_return;
    };
    std::string what;
    try {
      co_await async_with(pool.acquire(), std::move(throws));
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "body failed");
    CHECK(pool.stats().idle == 1);
    auto waits = [](Connection*) { return tut::sleep(std::chrono::hours(1)); };
    Task cancelled(executor);
    cancelled.start(async_with(pool.acquire(), std::move(waits)));
    auto leased = [&pool] { return pool.stats().leased == 1; };
    co_await until(leased);
    cancelled.signal.emit(asio::cancellation_type::terminal);
    auto error = co_await cancelled.wait();
    CHECK(tut::is_cancellation(error));
    CHECK(pool.stats().leased == 0);
    CHECK(pool.stats().idle == 1);
    CHECK(pool.stats().opened == 1);  // one connection served all three
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a lease dropped without its exit closes its connection instead of losing it") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    {
      auto forgotten = co_await pool.acquire();
      CHECK(pool.stats().leased == 1);
    }
    CHECK(pool.stats().leased == 0);
    CHECK(pool.stats().open == 0);
    CHECK(pool.stats().discarded == 1);
    auto answer = co_await pool.query("SELECT 'the slot is free again'");
    CHECK(answer.scalar() == "the slot is free again");
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("cancelling a running query cancels it on the server, the connection stays usable") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto conn = co_await Connection::open(dsn);
    auto watcher = co_await Connection::open(dsn);
    const std::string pid = std::to_string(conn->backend_pid());
    Task query(executor);
    query.start(conn->query("SELECT pg_sleep(60)"));
    co_await wait_for_state(watcher.get(), pid, "active");  // the server is running it
    query.signal.emit(asio::cancellation_type::terminal);
    auto error = co_await query.wait();
    CHECK(tut::is_cancellation(error));
    CHECK(conn->cancelled_by_server() == 1);
    std::vector<std::string> args{pid};
    auto state = co_await watcher->query("SELECT state FROM pg_stat_activity WHERE pid = $1", args);
    CHECK(state.scalar() == "idle");  // without the server-side cancel: "active" for 60 s
    CHECK_FALSE(conn->broken());
    auto again = co_await conn->query("SELECT 7");
    CHECK(again.scalar() == "7");
  };
  run_within(test(), limit);
}

TEST_CASE("a timeout around pool.query() cancels the query on the server and keeps the connection") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    auto before = co_await pool.query("SELECT pg_backend_pid()");
    bool timed_out = false;
    try {
      auto slow = pool.query("SELECT pg_sleep(60)");
      co_await lesson014::with_timeout(std::move(slow), 100ms);
    } catch (const lesson014::TimeoutError&) {
      timed_out = true;
    }
    CHECK(timed_out);
    // The limit of this test (25 s) is far below 60 s: the server really stopped.
    auto after = co_await pool.query("SELECT pg_backend_pid()");
    CHECK(pid_of(after) == pid_of(before));
    CHECK(pool.stats().discarded == 0);
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("an idle connection whose backend was killed is replaced, the next query succeeds") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    auto before = co_await pool.query("SELECT pg_backend_pid()");
    auto killer = co_await Connection::open(dsn);
    // With a timeout, pg_terminate_backend waits until the process has exited.
    std::vector<std::string> args{pid_of(before)};
    auto killed = co_await killer->query("SELECT pg_terminate_backend($1, 5000)", args);
    REQUIRE(killed.scalar() == "t");
    auto after = co_await pool.query("SELECT pg_backend_pid()");
    CHECK(pid_of(after) != pid_of(before));
    CHECK(pool.stats().discarded == 1);
    CHECK(pool.stats().opened == 2);
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a connection killed during a query fails that query, then is replaced") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 1);
    auto before = co_await pool.query("SELECT pg_backend_pid()");
    auto killer = co_await Connection::open(dsn);
    Task query(executor);
    query.start(pool.query("SELECT pg_sleep(60)"));
    co_await wait_for_state(killer.get(), pid_of(before), "active");
    std::vector<std::string> args{pid_of(before)};
    co_await killer->query("SELECT pg_terminate_backend($1, 5000)", args);
    auto error = co_await query.wait();
    CHECK_FALSE(message_of(error).empty());  // the server said why, or the connection was lost
    CHECK(pool.stats().discarded == 1);
    auto after = co_await pool.query("SELECT 'still works'");
    CHECK(after.scalar() == "still works");
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("a connection given back inside a transaction is rolled back, failed or not") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    Pool pool(co_await asio::this_coro::executor, dsn, 1);
    co_await pool.query("CREATE TEMP TABLE notes (text text)");  // the session's own table
    auto fails = [](Connection* conn) -> asio::awaitable<void> {
      co_await conn->query("BEGIN");
      co_await conn->query("INSERT INTO notes VALUES ('failed')");
      co_await conn->query("SELECT 1/0");
    };
    std::string state;
    try {
      co_await async_with(pool.acquire(), std::move(fails));
    } catch (const PgError& e) {
      state = e.sqlstate();
    }
    CHECK(state == "22012");
    auto forgets = [](Connection* conn) -> asio::awaitable<void> {
      co_await conn->query("BEGIN");
      co_await conn->query("INSERT INTO notes VALUES ('never committed')");
    };
    co_await async_with(pool.acquire(), std::move(forgets));
    auto count = co_await pool.query("SELECT count(*) FROM notes");
    CHECK(count.scalar() == "0");
    CHECK(pool.stats().discarded == 0);  // rolled back, not closed: the temp table is still there
    co_await pool.close();
  };
  run_within(test(), limit);
}

TEST_CASE("close() with a lease out: waiters and new callers fail, close() waits for the lease") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Pool pool(executor, dsn, 2);
    auto first = co_await pool.acquire();
    auto second = co_await pool.acquire();
    co_await second.exit(nullptr);  // one idle, one out
    auto third = co_await pool.acquire();  // both out now
    Task waiting(executor);
    waiting.start(pool.acquire());
    auto in_line = [&pool] { return pool.stats().waiting == 1; };
    co_await until(in_line);
    Task closing(executor);
    closing.start(pool.close());
    auto waiter_error = co_await waiting.wait();
    CHECK(message_of(waiter_error) == "the pool is closed");
    std::string refused;
    try {
      co_await pool.acquire();
    } catch (const PoolClosed& e) {
      refused = e.what();
    }
    CHECK(refused == "the pool is closed");
    co_await first.exit(nullptr);
    CHECK_FALSE(*closing.done);  // one lease is still out
    CHECK(pool.stats().open == 1);
    co_await third.exit(nullptr);
    auto close_error = co_await closing.wait();
    CHECK(close_error == nullptr);
    CHECK(pool.stats().open == 0);
  };
  run_within(test(), limit);
}

// Two pieces that project 031 (the task queue) needs: LISTEN/NOTIFY and a server restart.

TEST_CASE("notification(): a LISTENing connection receives NOTIFYs, and PgError when it is lost") {
  const std::string dsn = database();
  if (dsn.empty()) return;
  auto test = [dsn]() -> asio::awaitable<std::string> {
    auto listener = co_await Connection::open(dsn);
    auto other = co_await Connection::open(dsn);
    co_await listener->query("LISTEN test_028");
    co_await other->query("NOTIFY test_028, 'one'");
    co_await other->query("SELECT pg_notify('test_028', 'two')");
    // Both came while nobody waited on the listener's socket, and the loop has looked at it
    // since: notification()'s async_wait must still see the bytes waiting there (a wait for
    // readiness, not for new bytes; postgres.cpp relies on it).
    co_await tut::sleep(50ms);
    auto first = co_await listener->notification();
    auto second = co_await listener->notification();
    const std::vector<std::string> pid = {std::to_string(listener->backend_pid())};
    co_await other->query("SELECT pg_terminate_backend($1)", pid);
    std::string lost;
    try {
      co_await listener->notification();
    } catch (const PgError& e) {
      lost = "PgError";
    }
    CHECK(listener->broken());
    co_return first.channel + " " + first.payload + ", " + second.payload + ", " + lost;
  };
  CHECK(run_within(test(), limit) == "test_028 one, two, PgError");
}

TEST_CASE("TempServer::restart(): clients are disconnected, and the server answers again on its port") {
  if (!tut::test::peer_available(TempServer::bindir().has_value(),
                                 "PostgreSQL (apt-get install postgresql)"))
    return;
  TempServer server;  // one of its own: the other tests share theirs
  const int port = server.port();
  // restart() blocks this thread for a moment: nothing else runs on this io_context.
  auto test = [&server]() -> asio::awaitable<std::string> {
    auto kept = co_await Connection::open(server.conninfo());
    co_await kept->query("CREATE TABLE kept (n int)");
    co_await kept->query("INSERT INTO kept VALUES (28)");
    server.restart(100ms);
    CHECK_FALSE(kept->check_alive());  // told, then disconnected
    auto fresh = co_await Connection::open(server.conninfo());
    auto rows = co_await fresh->query("SELECT n FROM kept");
    co_return rows.scalar();
  };
  CHECK(run_within(test(), limit) == "28");  // the same data
  CHECK(server.port() == port);
}
