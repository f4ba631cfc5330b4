// Lesson 002 demo: tasks overlap, and their results and exceptions go where the token says.
#include <exception>

#include <fmt/core.h>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>

#include "log.hpp"
#include "run.hpp"
#include "tasks.hpp"

using namespace std::chrono_literals;
using lesson002::Job;

// 1. create_task three times, and let them run.
asio::awaitable<void> make_breakfast() {
  auto executor = co_await asio::this_coro::executor;
  tut::log("main", "creating 3 tasks: brew 0.3s, toast 0.1s, eggs 0.2s");
  std::vector<Job> jobs{{"brew", 300ms}, {"toast", 100ms}, {"eggs", 200ms}};
  lesson002::create_tasks(executor, std::move(jobs));
  // Unlike create_task, co_spawn from inside a coroutine ran each task up to its first
  // co_await already (see tasks.cpp). Now they all wait on their timers at the same time.
  tut::log("main", "created; main returns, the tasks keep running");
}

// 2. A coroutine awaits a task's result while another task runs in the background.
asio::awaitable<void> await_toast() {
  auto executor = co_await asio::this_coro::executor;
  std::vector<Job> background{{"coffee", 200ms}};
  lesson002::create_tasks(executor, std::move(background));
  tut::log("main", "coffee brews in the background; main co_awaits a toast task");
  Job toast{"toast", 100ms};
  auto result = co_await lesson002::await_task(std::move(toast));
  tut::log("main", "co_await gave \"{}\"; coffee is still brewing", result);
}

// 4a. The task's exception reaches whoever awaits it.
asio::awaitable<void> await_burnt_toast() {
  try {
    Job burnt{"burnt", 100ms, true};
    co_await lesson002::await_task(std::move(burnt));
  } catch (const std::exception& error) {
    tut::log("main", "use_awaitable: co_await rethrew \"{}\"", error.what());
  }
}

int main() {
  fmt::print("-- 1. create_task: co_spawn starts tasks that run concurrently\n");
  tut::reset_clock();
  tut::run(make_breakfast());  // returns when no work is left: when the last task is done
  // The time stamp says how long it took (a measured time in the message itself would break
  // the output check on a loaded machine, where timers fire late).
  tut::log("main", "all done: as long as the longest task, not the sum (0.6s)");

  fmt::print("-- 2. a coroutine gets a task's result: co_spawn(..., use_awaitable)\n");
  tut::reset_clock();
  tut::run(await_toast());

  fmt::print("-- 3. plain code gets results: co_spawn(..., use_future), loop on a thread\n");
  tut::reset_clock();
  tut::log("main", "rice 0.2s, beans 0.1s; this thread blocks in future.get()");
  std::vector<Job> pots{{"rice", 200ms}, {"beans", 100ms}};
  auto results = lesson002::results_from_thread(std::move(pots));
  tut::log("main", "got \"{}\", \"{}\" in the order asked", results.at(0), results.at(1));

  fmt::print("-- 4. an exception in a task\n");
  tut::reset_clock();
  tut::run(await_burnt_toast());
  {
    asio::io_context io_context;
    std::vector<Job> jobs{{"charred", 100ms, true}};
    lesson002::create_tasks(io_context.get_executor(), std::move(jobs));
    try {
      io_context.run();
      tut::log("main", "BUG: tut::rethrow should have made run() throw");
    } catch (const std::exception& error) {
      tut::log("main", "tut::rethrow: io_context.run() threw \"{}\"", error.what());
    }
  }
  {
    asio::io_context io_context;
    lesson002::spawn_detached(io_context.get_executor(), Job{"scorched", 100ms, true});
    io_context.run();  // returns normally: the exception is gone
    tut::log("main", "asio::detached: run() returned normally, the error vanished unreported");
  }
}
