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
