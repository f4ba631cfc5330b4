// Lesson 028: the pool. A line of waiting callers, a slot count, and a lease whose exit gives
// the connection back (lesson 021). The libpq plumbing is in postgres.cpp (how it is built).
#include "pool.hpp"

#include <algorithm>
#include <optional>

#include <asio/error.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "timeouts.hpp"  // lesson 014: TimeoutError, timeout_at

namespace lesson028 {

namespace {

// A caller waiting in acquire(). Its timer is both the deadline and the wake-up: it fires at
// the deadline, or is cancelled by the pool when the caller is served.
struct Waiter {
  Waiter(asio::any_io_executor executor, asio::steady_timer::time_point deadline)
      : wake(executor, deadline) {}
  asio::steady_timer wake;
  std::unique_ptr<Connection> connection;  // served: a connection that came back
  bool may_open = false;                   // served: a slot freed up, open a new one in it
  bool closed = false;                     // served: the pool is closing
  bool served() const { return connection || may_open || closed; }
};

}  // namespace

struct Pool::State {
  asio::any_io_executor executor;
  std::string conninfo;
  std::size_t max_size;
  std::size_t open = 0;  // slots in use: connections open or being opened
  std::size_t leased = 0;
  std::size_t opened = 0, discarded = 0;
  std::deque<std::unique_ptr<Connection>> idle;
  std::deque<Waiter*> waiters;  // first come, first served
  bool closing = false;
  asio::steady_timer all_back;  // close() waits on it; cancelled when the last slot is freed

  State(asio::any_io_executor ex, std::string dsn, std::size_t size)
      : executor(ex), conninfo(std::move(dsn)), max_size(size), all_back(ex) {}

  // A slot freed up: it goes to the first waiting caller (who opens a connection in it), so
  // a newcomer cannot take it first; otherwise it is free.
  void release_slot() {
    if (!waiters.empty()) {
      Waiter* first = waiters.front();
      waiters.pop_front();
      first->may_open = true;
      first->wake.cancel();
      return;
    }
    --open;
    if (closing && open == 0) all_back.cancel();
  }

  void discard(std::unique_ptr<Connection> connection) {
    connection.reset();  // PQfinish: the server ends the session (and rolls back)
    ++discarded;
    release_slot();
  }

  // A connection comes back: to the first waiter, else to the idle list; closed instead if
  // it is broken, still inside a transaction, or the pool is closing.
  void put_back(std::unique_ptr<Connection> connection) {
    if (connection->broken() || connection->in_transaction() || closing) {
      discard(std::move(connection));
    } else if (!waiters.empty()) {
      Waiter* first = waiters.front();
      waiters.pop_front();
      first->connection = std::move(connection);
      first->wake.cancel();
    } else {
      idle.push_back(std::move(connection));
    }
  }
};

namespace {

using State = Pool::State;

// What a lease holds. Its exit gives the connection back; if the exit never runs (an Entered
// dropped unused), the destructor closes the connection rather than lose the slot.
struct Lease {
  std::shared_ptr<State> state;
  std::unique_ptr<Connection> connection;
  ~Lease() {
    if (connection) {
      --state->leased;
      state->discard(std::move(connection));
    }
  }
};

// The lease's exit, like asyncpg's release: end any transaction the body left open.
asio::awaitable<bool> give_back(std::shared_ptr<Lease> lease) {
  if (!lease->connection) co_return false;  // the exit ran already
  auto connection = std::move(lease->connection);
  auto state = lease->state;
  if (!connection->broken() && connection->in_transaction()) {
    try {
      co_await connection->query("ROLLBACK");
    } catch (...) {
      // still in the transaction, or broken: put_back closes it
    }
  }
  --state->leased;
  state->put_back(std::move(connection));
  co_return false;  // never suppresses the body's error
}

// Opens a connection in a slot already counted in state->open. If that fails, the slot is
// passed on to the next waiting caller, who tries again.
asio::awaitable<std::unique_ptr<Connection>> open_in_slot(std::shared_ptr<State> state,
                                                          lesson014::clock::time_point deadline) {
  std::unique_ptr<Connection> connection;
  std::exception_ptr error;
  try {
    auto opening = Connection::open(state->conninfo);
    connection = co_await lesson014::timeout_at(deadline, std::move(opening));
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    state->release_slot();
    std::rethrow_exception(error);
  }
  ++state->opened;
  if (state->closing) {  // close() began while we were connecting
    state->discard(std::move(connection));
    throw PoolClosed();
  }
  co_return connection;
}

asio::awaitable<std::unique_ptr<Connection>> take(std::shared_ptr<State> state,
                                                  milliseconds timeout) {
  const auto deadline = lesson014::clock::now() + timeout;
  if (state->closing) throw PoolClosed();
  // Nobody waiting: an idle connection that is still alive, or a new one if there is room.
  // Callers already waiting come first: a newcomer queues behind them.
  if (state->waiters.empty()) {
    while (!state->idle.empty()) {
      auto connection = std::move(state->idle.back());  // the most recently used: still warm
      state->idle.pop_back();
      if (connection->check_alive()) co_return connection;
      state->discard(std::move(connection));  // the server closed it: replace it
    }
    if (state->open < state->max_size) {
      ++state->open;
      co_return co_await open_in_slot(state, deadline);
    }
  }
  Waiter waiter(state->executor, deadline);
  state->waiters.push_back(&waiter);
  auto [error] = co_await waiter.wake.async_wait(compat::as_tuple(asio::use_awaitable));
  // Served wins, even if the deadline or a cancellation came in the same turn.
  if (waiter.connection) co_return std::move(waiter.connection);
  if (waiter.may_open) co_return co_await open_in_slot(state, deadline);
  if (waiter.closed) throw PoolClosed();
  std::erase(state->waiters, &waiter);  // not served: leave the line
  if (error == asio::error::operation_aborted) throw std::system_error(error);  // cancelled
  throw lesson014::TimeoutError();
}

}  // namespace

Pool::Pool(asio::any_io_executor executor, std::string conninfo, std::size_t max_size)
    : state_(std::make_shared<State>(executor, std::move(conninfo), max_size)) {}

asio::awaitable<Entered<Connection*>> Pool::acquire(milliseconds timeout) {
  auto state = state_;  // the lease keeps the state alive, even past the Pool
  auto connection = co_await take(state, timeout);
  ++state->leased;
  Connection* handle = connection.get();
  auto lease = std::make_shared<Lease>();
  lease->state = state;
  lease->connection = std::move(connection);
  lesson021::Exit exit = [lease](std::exception_ptr) { return give_back(lease); };
  co_return Entered<Connection*>{handle, std::move(exit)};
}

asio::awaitable<Result> Pool::query(std::string sql, std::vector<std::string> params) {
  auto body = [sql = std::move(sql), params = std::move(params)](Connection* connection) {
    return connection->query(sql, params);
  };
  auto leased = async_with(acquire(), std::move(body));
  co_return co_await std::move(leased);
}

asio::awaitable<void> Pool::close() {
  auto state = state_;
  state->closing = true;
  for (Waiter* waiter : state->waiters) {
    waiter->closed = true;
    waiter->wake.cancel();
  }
  state->waiters.clear();
  while (!state->idle.empty()) {
    state->idle.pop_back();  // closes it
    --state->open;
    ++state->discarded;
  }
  // The leases still out close their connection when they come back (put_back).
  while (state->open > 0) {
    state->all_back.expires_at(asio::steady_timer::time_point::max());
    co_await state->all_back.async_wait(compat::as_tuple(asio::use_awaitable));
  }
}

Pool::Stats Pool::stats() const {
  const State& s = *state_;
  return {s.open, s.idle.size(), s.leased, s.waiters.size(), s.opened, s.discarded};
}

}  // namespace lesson028
