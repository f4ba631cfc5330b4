// How it is built: the definitions behind lesson 014's timeouts_how_it_is_built.hpp:
// TimeoutError, the socket helpers, and the demo's scaffolding. Optional reading: the lesson
// is in timeouts.hpp and timeouts.cpp.
#include "timeouts_how_it_is_built.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <asio/write.hpp>

#include "log.hpp"

namespace lesson014 {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using asio::ip::tcp;

TimeoutError::TimeoutError()
    : std::system_error(std::make_error_code(std::errc::timed_out), "deadline expired") {}

asio::awaitable<std::pair<tcp::socket, tcp::socket>> socket_pair() {
  auto executor = co_await asio::this_coro::executor;
  tcp::endpoint local(asio::ip::address_v4::loopback(), 0);  // port 0: the kernel picks one
  tcp::acceptor acceptor(executor, local);
  tcp::socket client(executor);
  auto connecting = client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  auto accepting = acceptor.async_accept(asio::use_awaitable);
  auto server = co_await (std::move(connecting) && std::move(accepting));
  co_return std::pair<tcp::socket, tcp::socket>(std::move(client), std::move(server));
}

asio::awaitable<tcp::socket> connect(tcp::endpoint endpoint) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(endpoint, asio::use_awaitable);
  co_return socket;
}

// ---- Watchdog ---------------------------------------------------------------------------------

// What the pending wait's handler needs. It outlives the Watchdog if a handler is still queued
// (a timer's cancelled or fired wait completes later, from the io_context): then `alive` is
// false and the handler does nothing.
struct Watchdog::State {
  State(asio::any_io_executor executor, std::function<void()> f)
      : timer(std::move(executor)), on_expiry(std::move(f)) {}
  asio::steady_timer timer;
  std::function<void()> on_expiry;
  clock::time_point deadline = clock::time_point::max();
  unsigned generation = 0;  // of the wait in progress; a stale handler sees another
  bool waiting = false, expired = false, alive = true;
};

Watchdog::Watchdog(asio::any_io_executor executor, std::function<void()> on_expiry)
    : state_(std::make_shared<State>(std::move(executor), std::move(on_expiry))) {}

Watchdog::~Watchdog() {
  disarm();
  state_->alive = false;  // the cancelled wait's handler still holds state_, and the timer
}

void Watchdog::wait(const std::shared_ptr<State>& state) {
  state->waiting = true;
  const unsigned generation = ++state->generation;
  state->timer.async_wait([state, generation](asio::error_code error) {
    if (!state->alive || generation != state->generation) return;  // replaced or disarmed
    state->waiting = false;
    if (error || state->deadline == clock::time_point::max()) return;
    if (clock::now() < state->deadline) {  // arm() moved it later meanwhile: wait on
      state->timer.expires_at(state->deadline);
      wait(state);
      return;
    }
    state->expired = true;
    state->on_expiry();
  });
}

void Watchdog::arm(clock::time_point when) {
  state_->deadline = when;
  state_->expired = false;
  // A wait that ends no later than `when` is left alone: when it fires it waits on (above).
  // The usual case, a deadline later than the last one, costs no timer operation at all.
  if (state_->waiting && state_->timer.expiry() <= when) return;
  state_->timer.expires_at(when);  // cancels the wait in progress, if any
  wait(state_);
}

void Watchdog::disarm() {
  state_->deadline = clock::time_point::max();
  if (!state_->waiting) return;
  state_->waiting = false;
  ++state_->generation;
  state_->timer.cancel();
}

bool Watchdog::expired() const { return state_->expired; }

namespace demo {

std::string what_happened(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const TimeoutError&) {
    return "TimeoutError";
  } catch (const std::system_error& e) {
    if (e.code() == asio::error::operation_aborted) return "operation_aborted (not its deadline)";
    return fmt::format("system_error: {}", e.code().message());
  } catch (...) {
    return "another exception";
  }
}

asio::awaitable<std::string> reporting(std::string who, asio::awaitable<std::string> operation) {
  std::exception_ptr error;
  try {
    co_return co_await std::move(operation);
  } catch (const std::system_error&) {
    error = std::current_exception();
  }
  tut::log(who, "ends with {}", what_happened(error));
  std::rethrow_exception(error);
}

asio::awaitable<std::string> connect_and_greet(tcp::endpoint endpoint) {
  try {
    auto socket = co_await connect(endpoint);
    co_return "connected";
  } catch (const std::system_error& error) {
    tut::log("connect", "failed at once: {}", error.code().message());
    throw;
  }
}

asio::awaitable<void> peer(tcp::socket socket, clock::time_point start) {
  struct Step {
    std::chrono::milliseconds at;
    std::string text;
  };
  std::vector<Step> script{{100ms, "line 1\n"}, {200ms, "line 2\n"}, {300ms, "par"},
                           {700ms, "tial\n"},   {800ms, "a\n"},      {900ms, "b\n"},
                           {1100ms, "c\n"}};
  asio::steady_timer timer(socket.get_executor());
  for (auto& step : script) {
    timer.expires_at(start + step.at);
    co_await timer.async_wait(asio::use_awaitable);
    tut::log("peer", "sends {:?}", step.text);
    co_await asio::async_write(socket, asio::buffer(step.text), asio::use_awaitable);
  }
}

}  // namespace demo
}  // namespace lesson014
