// How it is built: the PostgreSQL plumbing under lesson 028's pool. A learner can skip this
// file at this lesson: pool.hpp says what a Connection does. It holds
// - Connection: libpq's asynchronous API driven by Asio (PQconnectStart/PQconnectPoll,
//   PQsendQueryParams, PQconsumeInput, PQgetResult, PQcancel), waiting for the socket with
//   posix::stream_descriptor::async_wait. Waiting on a file descriptor that another library
//   owns is lesson 018's territory (custom asynchronous operations); cancellation is 005's.
// - Connection::notification(): LISTEN/NOTIFY's receiving end (project 031's idle workers).
// - TempServer: a throwaway PostgreSQL server in a temporary folder, for the demo and tests.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>

struct pg_conn;    // libpq's PGconn and PGresult: only postgres.cpp includes libpq-fe.h
struct pg_result;

namespace lesson028 {

/// An error reported by the server or by libpq. sqlstate() is the server's five-character
/// code ("42601" syntax error, "57014" query cancelled, "57P01" backend terminated), empty for
/// a client-side error (cannot connect, connection lost).
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate = {})
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// The rows of a query, every value as text (PostgreSQL's text format); NULL is nullopt.
struct Result {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  /// The first column of the first row ("SELECT count(*) ..."); throws if none or NULL.
  std::string scalar() const;
};

/// A NOTIFY the server delivered to a connection that had run LISTEN on its channel.
struct Notification {
  std::string channel;
  std::string payload;
};

/// One PostgreSQL connection (asyncpg.Connection). Open with co_await Connection::open(...).
/// Use it from one coroutine at a time: PostgreSQL runs one query per connection at a time.
class Connection {
 public:
  /// asyncpg.connect(dsn): connects without blocking the thread. `conninfo` is libpq's
  /// "host=... port=... dbname=... user=..." or a postgresql:// URI. Throws PgError with
  /// libpq's message if the server cannot be reached or refuses.
  static asio::awaitable<std::unique_ptr<Connection>> open(std::string conninfo);
  ~Connection();  // closes the connection (PQfinish): never while a query is awaited
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// conn.fetch(sql, *params): sends `sql` with $1, $2... bound to `params` (as text, never
  /// pasted into the SQL), waits for the answer and returns the rows. Throws PgError on a
  /// server error (the connection stays usable). Cancelled (a timeout, a cancellation
  /// signal), it asks the server to cancel the running query (PQcancel), waits until the
  /// server has stopped it, and rethrows operation_aborted; the connection stays usable, or
  /// is marked broken() if the server could not be told.
  asio::awaitable<Result> query(std::string sql, std::vector<std::string> params = {});

  /// The server process serving this connection (pg_backend_pid()).
  int backend_pid() const;
  /// Inside a transaction (BEGIN without COMMIT/ROLLBACK yet, or a failed one).
  bool in_transaction() const;
  /// The connection cannot be used any more: lost, closed by the server, or left in the
  /// middle of a query.
  bool broken() const;
  /// Without waiting: reads whatever the server sent while the connection sat idle. A server
  /// that closed it (pg_terminate_backend, a restart) has sent an error and end-of-file: the
  /// connection is broken() afterwards. Returns !broken().
  bool check_alive();
  /// asyncpg's add_listener(channel, callback), as a wait: on an idle connection that has run
  /// `LISTEN channel`, returns the next notification (at once if one came with a query's
  /// answer). Throws PgError when the connection is lost (a NOTIFY sent meanwhile is lost
  /// too: a listener that reconnects must look for what it missed). Cancellable.
  asio::awaitable<Notification> notification();
  /// How many queries the server cancelled at our request (tests observe it).
  int cancelled_by_server() const { return cancelled_by_server_; }

 private:
  Connection(asio::any_io_executor executor, pg_conn* conn);
  asio::awaitable<void> flush();
  asio::awaitable<void> wait_for_result();  // until libpq holds the whole answer
  asio::awaitable<void> cancel_running_query();
  asio::awaitable<Result> collect();  // PQgetResult until null; PgError for an error result
  static void on_notice(void* self, const pg_result* notice);

  pg_conn* conn_;
  asio::posix::stream_descriptor socket_;  // libpq's socket, borrowed: released, never closed
  bool usable_ = true;
  int cancelled_by_server_ = 0;
};

/// A throwaway PostgreSQL server: a fresh cluster in a temporary folder, listening on
/// 127.0.0.1 on a free port with a socket folder of its own, stopped and removed by the
/// destructor (during stack unwinding too, so a failing test leaves nothing behind). If the
/// test process dies without unwinding, the server gets SIGQUIT (PR_SET_PDEATHSIG).
/// As root it runs as the `postgres` user (PostgreSQL refuses to run as root).
/// The cluster is copied from a template made once per build folder (initdb takes seconds;
/// a copy and a start take a fraction of one): bin/028-pg-template.
class TempServer {
 public:
  /// Throws std::runtime_error with the server's log if it cannot start.
  TempServer();
  ~TempServer();
  TempServer(const TempServer&) = delete;
  TempServer& operator=(const TempServer&) = delete;

  /// "host=127.0.0.1 port=N dbname=postgres user=postgres"
  const std::string& conninfo() const { return conninfo_; }
  int port() const { return port_; }
  /// Stops the server (fast shutdown: every client is disconnected), waits `down_for`, and
  /// starts it again on the same port with the same data: what a server restart looks like
  /// to a client. Throws std::runtime_error if it cannot start again.
  void restart(std::chrono::milliseconds down_for = std::chrono::milliseconds(0));
  /// PostgreSQL's programs (initdb, postgres, pgbench), or nullopt if not installed.
  static std::optional<std::string> bindir();

 private:
  void start(int port);  // port 0: a free one
  std::string folder_;
  std::string conninfo_;
  int port_ = 0;
  pid_t postmaster_ = -1;
};

/// The server the demo, the tests and the benchmark use: TUTORIAL_PG (a libpq connection
/// string) if set, otherwise a TempServer started here (kept in `server`).
std::string server_conninfo(std::unique_ptr<TempServer>& server);

/// True if PostgreSQL can be used here: TUTORIAL_PG is set, or the server programs exist.
bool postgres_available();

}  // namespace lesson028
