// Tests of exercise 021.1 (exercise.cpp next to this file): transfer() runs as a task with a
// cancellation slot bound (lesson 005's way: a cancellation_signal, emit()); the tests read
// what the server saw and how the task ended.
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "run.hpp"
#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace exercise {
struct Server {
  std::vector<std::string> log;
};
asio::awaitable<void> say_goodbye(std::shared_ptr<Server> server) {
  co_await tut::sleep(20ms);  // the network
  server->log.push_back("goodbye");
}
asio::awaitable<std::string> transfer(std::shared_ptr<Server> server,
                                      std::chrono::milliseconds work, bool fail);
}  // namespace exercise

namespace {
struct Ending {
  bool finished = false;
  std::exception_ptr error;
  std::string value;
  std::string log;  // what the server saw: "hello, sent, goodbye"
};

// Runs transfer(server, work, fail) as a task; at 50 ms, if `cancel`, emits a terminal
// cancellation into its slot.
Ending run_task(std::chrono::milliseconds work, bool fail, bool cancel) {
  auto server = std::make_shared<exercise::Server>();
  Ending ending;
  asio::io_context context;
  asio::cancellation_signal signal;
  asio::co_spawn(context, exercise::transfer(server, work, fail),
                 asio::bind_cancellation_slot(signal.slot(),
                                              [&](std::exception_ptr error, std::string value) {
                                                ending.finished = true;
                                                ending.error = error;
                                                ending.value = std::move(value);
                                              }));
  asio::steady_timer timer(context, 50ms);
  timer.async_wait([&](std::error_code) {
    if (cancel) signal.emit(asio::cancellation_type::terminal);
  });
  context.run_for(5s);
  for (const auto& entry : server->log) ending.log += (ending.log.empty() ? "" : ", ") + entry;
  return ending;
}

std::string describe(const std::exception_ptr& error) {
  if (!error) return "no exception";
  if (tut::is_cancellation(error)) return "operation_aborted";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string("the exception \"") + e.what() + "\"";
  }
  return "an exception";
}
}  // namespace

TEST_CASE("a transfer that completes says goodbye and returns done") {
  Ending ending = run_task(10ms, false, false);
  REQUIRE(ending.finished);
  CHECK(describe(ending.error) == "no exception");
  CHECK(ending.value == "done");
  CHECK(ending.log == "hello, sent, goodbye");
}

TEST_CASE("a transfer that fails still says goodbye, then throws its error") {
  Ending ending = run_task(10ms, true, false);
  REQUIRE(ending.finished);
  INFO("the server saw: " << ending.log << "; transfer ended with " << describe(ending.error));
  CHECK(ending.log == "hello, goodbye");
  CHECK(describe(ending.error) == "the exception \"transfer failed\"");
}

TEST_CASE("a transfer cancelled mid-work still says goodbye, then ends with operation_aborted") {
  Ending ending = run_task(2000ms, false, true);
  REQUIRE(ending.finished);
  INFO("cancelled at 50 ms of 2000: the server saw: " << ending.log << "; transfer ended with "
       << describe(ending.error) << "; expected \"hello, goodbye\" and operation_aborted");
  CHECK(ending.log == "hello, goodbye");
  CHECK(describe(ending.error) == "operation_aborted");
}
