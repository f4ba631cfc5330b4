// Lesson 028: a connection pool on a real PostgreSQL server, asyncpg's create_pool.
//
//   asyncpg                                          C++ (this header)
//   pool = await asyncpg.create_pool(dsn,            Pool pool(executor, dsn, 5)
//                  min_size=0, max_size=5)               (connections opened lazily)
//   async with pool.acquire(timeout=2) as conn:      co_await async_with(pool.acquire(2s), body)
//       rows = await conn.fetch(sql, a, b)               body: [](Connection* conn) {
//                                                          return conn->query(sql, {a, b}); }
//   await pool.fetch(sql, a, b)                      co_await pool.query(sql, {a, b})
//   asyncio.wait_for(pool.fetch(...), 0.2)           lesson014::with_timeout(pool.query(...), 200ms)
//   await pool.close()                               co_await pool.close()
//
// The pool's rules, each pinned by a test:
// - At most max_size connections, opened only when a caller needs one and none is idle.
// - acquire() waits in line: first come, first served; a newcomer queues behind the callers
//   already waiting even if a connection comes back just then. It throws
//   lesson014::TimeoutError when its timeout passes first (connecting included).
// - The lease (lesson 021's Entered: the connection and an exit) gives the connection back on
//   every exit path of async_with: the body returns, throws or is cancelled.
// - A connection handed back inside a transaction (a failed one, or one never committed) is
//   rolled back first, so the next caller starts clean; if that fails it is closed.
// - A connection the server has closed (pg_terminate_backend, a restart) is noticed when it
//   is taken from the idle list, closed and replaced. One that breaks during a query is closed
//   when it comes back, and its slot goes to the next caller.
// - A query cancelled by a timeout is cancelled on the server too (Connection::query).
// - close(): new acquire() calls and the callers waiting fail with PoolClosed, idle
//   connections are closed at once, and close() returns when every lease has come back (each
//   connection is closed as it comes back).
// Where C++ differs from asyncpg, and why:
// - `async with` is lesson 021's async_with(opener, body): no co_await in a destructor. An
//   Entered dropped without running its exit does not leak: its connection is closed, not
//   returned (it cannot await the ROLLBACK).
// - asyncpg resets more on release (RESET ALL, UNLISTEN, advisory locks); this pool only ends
//   the transaction. It has no min_size, no max_queries, no idle timeout.
// - A query that failed because its connection broke is not retried: the statement may have
//   run before the connection broke. Retrying is the caller's decision (lesson 027).
// - The pool is not locked: use it from one thread, or from coroutines on one strand.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "exit_stack.hpp"  // lesson 021: Entered, async_with
#include "postgres.hpp"    // Connection, Result, PgError, TempServer (how it is built)

namespace lesson028 {

using std::chrono::milliseconds;
using lesson021::async_with;
using lesson021::Entered;

/// What acquire() throws once close() has begun (asyncpg: InterfaceError "pool is closing").
class PoolClosed : public std::runtime_error {
 public:
  PoolClosed() : std::runtime_error("the pool is closed") {}
};

/// asyncpg.Pool. Use it from one thread (or one strand). Destroy it after close().
class Pool {
 public:
  Pool(asio::any_io_executor executor, std::string conninfo, std::size_t max_size);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// pool.acquire(timeout): a connection for the caller alone, as an Entered: use it with
  /// co_await async_with(pool.acquire(), body), which runs the exit on every path. Throws
  /// lesson014::TimeoutError, PoolClosed, or PgError if a new connection cannot be opened.
  asio::awaitable<Entered<Connection*>> acquire(milliseconds timeout = std::chrono::seconds(30));

  /// pool.fetch(sql, *params): acquire, query, give back.
  asio::awaitable<Result> query(std::string sql, std::vector<std::string> params = {});

  /// pool.close(): see the rules above. Call it once.
  asio::awaitable<void> close();

  struct Stats {
    std::size_t open = 0;       // connections open or being opened (at most max_size)
    std::size_t idle = 0;       // open and waiting in the pool
    std::size_t leased = 0;     // lent out
    std::size_t waiting = 0;    // callers waiting in acquire()
    std::size_t opened = 0;     // connections opened since the start
    std::size_t discarded = 0;  // connections closed because broken, in a transaction or closing
  };
  Stats stats() const;

  struct State;  // what the pool, its leases and its waiting callers share

 private:
  std::shared_ptr<State> state_;
};

}  // namespace lesson028
