// Tests of exercise 021.1 (exercise.cpp next to this file): transfer() runs as a task with a
// cancellation slot bound (lesson 005's way: a cancellation_signal, emit(); the harness is
// tests/support/cancelled_task.hpp); the tests read what the server saw and how the task ended.
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "cancelled_task.hpp"
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
struct Ending : tut::test::TaskEnding {
  std::string log;  // what the server saw: "hello, sent, goodbye"
};

// Runs transfer(server, work, fail) as a task (tests/support/cancelled_task.hpp); at 50 ms, if
// `cancel`, emits a terminal cancellation into its slot.
Ending run_task(std::chrono::milliseconds work, bool fail, bool cancel) {
  auto server = std::make_shared<exercise::Server>();
  tut::test::TaskEnding task =
      tut::test::run_cancelled(exercise::transfer(server, work, fail), cancel);
  std::string log;
  for (const auto& entry : server->log) log += (log.empty() ? "" : ", ") + entry;
  return Ending{std::move(task), log};
}
}  // namespace

using tut::test::describe;

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
