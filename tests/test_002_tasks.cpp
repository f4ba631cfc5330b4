#include "tasks.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson002::Job;
using lesson002::Timeline;
using tut::test::run_within;

namespace {
std::shared_ptr<Timeline> new_timeline() { return std::make_shared<Timeline>(); }
}  // namespace

TEST_CASE("tasks created together overlap: every one starts before any finishes") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  asio::io_context io_context;
  std::vector<Job> jobs{{"t0", 100ms}, {"t1", 100ms}, {"t2", 100ms}, {"t3", 100ms}};
  auto start = tut::clock::now();
  lesson002::create_tasks(io_context.get_executor(), jobs, timeline);
  io_context.run();
  auto took = tut::clock::now() - start;

  int first_done = 1000;
  for (auto& job : jobs) {
    int done = timeline->position(job.name + " done");
    REQUIRE(done >= 0);
    first_done = std::min(first_done, done);
  }
  for (auto& job : jobs) CHECK(timeline->position(job.name + " started") < first_done);
  CHECK(took >= 100ms);  // (no upper bound: a loaded machine can delay any timer)
}

TEST_CASE("co_spawn queues the start from outside the loop, runs it at once from inside") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  {
    asio::io_context io_context;
    std::vector<Job> jobs{{"outside", 10ms}};
    lesson002::create_tasks(io_context.get_executor(), jobs, timeline);
    CHECK(timeline->events().empty());  // nothing runs before io_context::run()
    io_context.run();
    CHECK(timeline->events() == std::vector<std::string>{"outside started", "outside done"});
  }
  // From inside a coroutine, co_spawn dispatches: the task runs up to its first co_await
  // before co_spawn returns (asyncio's create_task would only schedule it: the task would
  // first run when this coroutine suspends, and this one never does).
  auto look = [](std::shared_ptr<Timeline> tl) -> asio::awaitable<std::vector<std::string>> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"inside", 10ms}};
    lesson002::create_tasks(executor, jobs, tl);
    co_return tl->events();
  };
  auto seen = run_within(look(timeline));
  CHECK(seen == std::vector<std::string>{"outside started", "outside done", "inside started"});
  CHECK(timeline->position("inside done") == 3);  // run_within waited for the task
}

TEST_CASE("await_task returns the task's value while other tasks keep running") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  auto result = run_within([](std::shared_ptr<Timeline> tl) -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> background{{"slow", 500ms}};
    lesson002::create_tasks(executor, background, tl);
    Job fast{"fast", 20ms};
    auto value = co_await lesson002::await_task(fast, tl);
    // We are back while the background task still waits on its timer.
    CHECK(tl->position("slow started") >= 0);
    CHECK(tl->position("slow done") == -1);
    co_return value;
  }(timeline));
  CHECK(result == "fast ready");
  CHECK(timeline->position("slow done") >= 0);
}

TEST_CASE("await_task rethrows the task's exception at the co_await") {
  tut::set_logging(false);
  auto caught = run_within([]() -> asio::awaitable<std::string> {
    try {
      Job bad{"bad", 10ms, true};
      co_await lesson002::await_task(bad);
    } catch (const std::runtime_error& error) {
      co_return error.what();
    }
    co_return "no exception";
  }());
  CHECK(caught == "bad failed");
}

TEST_CASE("co_spawn with use_promise is the Task-like handle: running at once, awaited later") {
  // Not what this lesson teaches (lesson 016 does), but what its text claims: the closest to
  // an asyncio Task is co_spawn(..., experimental::use_promise). The task runs before anyone
  // waits on the promise, gives its value when waited on, and is cancelled if the promise is
  // destroyed unfinished.
  tut::set_logging(false);
  auto timeline = new_timeline();
  auto result = run_within([](std::shared_ptr<Timeline> tl) -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    auto kept = asio::co_spawn(executor, lesson002::run_job(Job{"kept", 20ms}, tl),
                               asio::experimental::use_promise);
    CHECK(tl->position("kept started") == 0);  // already running, like a Task
    {
      auto dropped = asio::co_spawn(executor, lesson002::run_job(Job{"dropped", 5s}, tl),
                                    asio::experimental::use_promise);
    }  // destroyed unfinished: its task is cancelled, not left running for 5 s
    auto wait = compat::wait_for(kept, asio::use_awaitable);
    auto value = co_await std::move(wait);
    co_return value;
  }(timeline));
  CHECK(result == "kept ready");
  CHECK(timeline->position("dropped started") >= 0);
  CHECK(timeline->position("dropped done") == -1);
}

TEST_CASE("results_from_thread returns results in job order, not completion order") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  std::vector<Job> jobs{{"slow", 300ms}, {"fast", 10ms}};
  auto results = lesson002::results_from_thread(jobs, timeline);
  CHECK(results == std::vector<std::string>{"slow ready", "fast ready"});
  CHECK(timeline->position("fast done") < timeline->position("slow done"));
  CHECK(timeline->position("slow started") < timeline->position("fast done"));  // overlapped
}

TEST_CASE("results_from_thread rethrows a failure once every task has finished") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  std::vector<Job> jobs{{"ok", 40ms}, {"bad", 10ms, true}, {"ok2", 20ms}};
  REQUIRE_THROWS_WITH(lesson002::results_from_thread(jobs, timeline), "bad failed");
  CHECK(timeline->position("ok done") >= 0);
  CHECK(timeline->position("ok2 done") >= 0);
}

TEST_CASE("with tut::rethrow a task's exception comes out of io_context::run()") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  asio::io_context io_context;
  std::vector<Job> jobs{{"bad", 10ms, true}, {"good", 500ms}};
  lesson002::create_tasks(io_context.get_executor(), jobs, timeline);
  REQUIRE_THROWS_WITH(io_context.run(), "bad failed");
  CHECK(timeline->position("good done") == -1);  // run() stopped at the exception...
  io_context.run();                              // ...and can be called again to go on
  CHECK(timeline->position("good done") >= 0);
}

TEST_CASE("asio::detached swallows a task's exception: run() returns normally") {
  tut::set_logging(false);
  auto timeline = new_timeline();
  asio::io_context io_context;
  lesson002::spawn_detached(io_context.get_executor(), Job{"lost", 10ms, true}, timeline);
  REQUIRE_NOTHROW(io_context.run());
  CHECK(timeline->position("lost failed") >= 0);  // it did throw; nobody heard
}
