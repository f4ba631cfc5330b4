// Lesson 002: tasks, running coroutines concurrently.
//
// asyncio.create_task(coro) wraps a coroutine in a Task and schedules it: it runs alongside
// the code that created it, and `await task` later gives its result or raises its exception.
// Asio's spelling is asio::co_spawn(executor, coro, token): it starts `coro` as a thread of
// execution of its own on `executor`, and the completion token decides who receives the
// outcome, a value or an exception. Several tasks that each wait (on a timer, a socket)
// overlap, so the total time is that of the longest task, not the sum.
//
// Where Asio differs from asyncio:
// - When does a task start? create_task() only schedules the coroutine: it first runs when the
//   creator next *suspends*, giving control back to the event loop. Not at every await:
//   awaiting an already-done future or a coroutine that returns without suspending goes
//   straight on (checked with Python 3.11). co_spawn *dispatches* it: called from code
//   already running on the executor's thread (inside a coroutine), it runs the new task at
//   once, up to the task's first suspension, before co_spawn returns, which is what Python
//   3.12's asyncio.eager_task_factory makes create_task do. Called from outside (before
//   io_context::run()), it queues the start. Either way nothing runs in parallel on a
//   single-threaded io_context; the tasks interleave at their co_awaits.
// - With the tokens used here no Task object comes back: the token fixes, at spawn time, how
//   the result is delivered: use_awaitable (the caller waits now), use_future (plain code
//   waits), or a handler (tut::rethrow). The closest to a Task is
//   co_spawn(executor, coro, asio::experimental::use_promise): an experimental::promise that
//   you keep while the task runs, wait on later, and that cancels the task if destroyed
//   unfinished (lesson 016). Lesson 003 awaits many running tasks at once (gather).
// - A failed Task that nobody awaits makes asyncio log "Task exception was never retrieved"
//   when it is garbage-collected. With asio::detached there is no such safety net: the
//   exception is silently destroyed. That is why the tutorial spawns fire-and-forget tasks
//   with tut::rethrow (common/run.hpp), which rethrows the exception out of io_context::run()
//   where the program or a test sees it.
#include "tasks.hpp"

#include <algorithm>
#include <exception>
#include <future>
#include <stdexcept>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "log.hpp"
#include "run.hpp"

namespace lesson002 {

void Timeline::record(std::string event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
}

std::vector<std::string> Timeline::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

int Timeline::position(const std::string& event) const {
  std::lock_guard lock(mutex_);
  auto found = std::find(events_.begin(), events_.end(), event);
  return found == events_.end() ? -1 : static_cast<int>(found - events_.begin());
}

namespace {
void note(const std::shared_ptr<Timeline>& timeline, const std::string& name,
          const std::string& what) {
  tut::log(name, "{}", what);
  if (timeline) timeline->record(name + " " + what);
}
}  // namespace

asio::awaitable<std::string> run_job(Job job, std::shared_ptr<Timeline> timeline) {
  note(timeline, job.name, "started");
  asio::steady_timer timer(co_await asio::this_coro::executor, job.delay);
  co_await timer.async_wait(asio::use_awaitable);  // other tasks run while this one waits
  if (job.fails) {
    note(timeline, job.name, "failed");
    throw std::runtime_error(job.name + " failed");
  }
  note(timeline, job.name, "done");
  co_return job.name + " ready";
}

void create_tasks(asio::any_io_executor executor, std::vector<Job> jobs,
                  std::shared_ptr<Timeline> timeline) {
  for (auto& job : jobs) {
    // create_task: the task belongs to the executor now; this function does not wait for it.
    // tut::rethrow is the completion handler: it ignores the value and rethrows an exception
    // out of io_context::run(), so a failure cannot go unnoticed.
    asio::co_spawn(executor, run_job(std::move(job), timeline), tut::rethrow);
  }
}

asio::awaitable<std::string> await_task(Job job, std::shared_ptr<Timeline> timeline) {
  auto executor = co_await asio::this_coro::executor;
  // With use_awaitable, co_spawn returns an awaitable: co_awaiting it starts the task and
  // suspends us until the task finishes. Its return value comes back; its exception is
  // rethrown at this co_await, exactly where `await task` raises in Python.
  auto task = asio::co_spawn(executor, run_job(std::move(job), timeline), asio::use_awaitable);
  co_return co_await std::move(task);
}

std::vector<std::string> results_from_thread(std::vector<Job> jobs,
                                             std::shared_ptr<Timeline> timeline) {
  asio::io_context io_context;
  std::vector<std::future<std::string>> futures;
  for (auto& job : jobs) {
    // use_future: co_spawn returns a std::future, the C++ cousin of the
    // concurrent.futures.Future that asyncio.run_coroutine_threadsafe() returns. Nothing runs
    // yet: we are not on the io_context's thread, so the starts are queued.
    futures.push_back(
        asio::co_spawn(io_context, run_job(std::move(job), timeline), asio::use_future));
  }
  // The event loop runs on a worker thread; this thread is free to block in get().
  std::thread loop([&io_context] { io_context.run(); });
  std::vector<std::string> results;
  std::exception_ptr first_failure;
  for (auto& future : futures) {
    try {
      results.push_back(future.get());  // blocks until that task is done; rethrows its exception
    } catch (...) {
      if (!first_failure) first_failure = std::current_exception();
    }
  }
  loop.join();  // every future is ready, so run() has nothing left to do and returns
  if (first_failure) std::rethrow_exception(first_failure);
  return results;
}

void spawn_detached(asio::any_io_executor executor, Job job, std::shared_ptr<Timeline> timeline) {
  // asio::detached: "I do not care how it ends". Its handler receives the exception_ptr and
  // drops it. Asio prints nothing, and io_context::run() returns as if all went well.
  asio::co_spawn(executor, run_job(std::move(job), timeline), asio::detached);
}

}  // namespace lesson002
