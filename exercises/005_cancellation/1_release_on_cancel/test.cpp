// Tests of exercise 005.1 (exercise.cpp next to this file): use_connection() runs as a task
// with a cancellation slot bound (lesson 005's way: a cancellation_signal, emit(); the harness
// is tests/support/cancelled_task.hpp), and the tests count the connections in use after it ends.
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>

#include "cancelled_task.hpp"
#include "test_support.hpp"

namespace exercise {
struct Pool {
  int in_use = 0;
};
asio::awaitable<std::string> use_connection(std::shared_ptr<Pool> pool,
                                            std::chrono::milliseconds work);
}  // namespace exercise

using namespace std::chrono_literals;

namespace {
struct Ending : tut::test::TaskEnding {
  int in_use_during_work = -1;  // seen just before the cancel (or at 50 ms)
  int in_use_after = -1;
};

// Runs use_connection(pool, work) as a task (tests/support/cancelled_task.hpp); at 50 ms notes
// how many connections are in use and, if `cancel`, emits a terminal cancellation into its slot.
Ending run_task(std::chrono::milliseconds work, bool cancel) {
  auto pool = std::make_shared<exercise::Pool>();
  int in_use_during_work = -1;
  tut::test::TaskEnding task = tut::test::run_cancelled(
      exercise::use_connection(pool, work), cancel,
      [&in_use_during_work, pool] { in_use_during_work = pool->in_use; });
  return Ending{std::move(task), in_use_during_work, pool->in_use};
}
}  // namespace

using tut::test::describe;

TEST_CASE("cancelled during its work, use_connection gives the connection back") {
  Ending ending = run_task(1s, true);
  REQUIRE(ending.finished);
  CHECK(ending.in_use_during_work == 1);
  INFO("connections still in use after the cancelled task ended: " << ending.in_use_after
       << "; expected 0 (the connection leaked)");
  CHECK(ending.in_use_after == 0);
}

TEST_CASE("cancelled, use_connection still ends with operation_aborted, as a cancelled task must") {
  Ending ending = run_task(1s, true);
  REQUIRE(ending.finished);
  INFO("the task ended with " << describe(ending.error) << " and value '" << ending.value
       << "'; expected operation_aborted: do not swallow the cancellation");
  CHECK(tut::is_cancellation(ending.error));
}

TEST_CASE("not cancelled, use_connection returns done and gives the connection back") {
  Ending ending = run_task(100ms, false);
  REQUIRE(ending.finished);
  INFO("the task ended with " << describe(ending.error));
  CHECK(!ending.error);
  CHECK(ending.value == "done");
  CHECK(ending.in_use_during_work == 1);
  CHECK(ending.in_use_after == 0);
}
