// Lesson 002: tasks. The core functions the demo and the tests call.
//
// asyncio.create_task(coro) becomes asio::co_spawn(executor, coro, token). The token says
// where the task's result goes, and that is the whole lesson:
//   tut::rethrow          nobody waits; an exception comes out of io_context::run()
//   asio::use_awaitable   a coroutine co_awaits the task and gets its value or its exception
//   asio::use_future      plain code (or another thread) gets a std::future
//   asio::detached        the result is dropped, and so is an exception: never use it
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

namespace lesson002 {

using std::chrono::milliseconds;

/// One piece of work for a task: its name, how long it takes, and whether it fails at the end.
struct Job {
  std::string name;
  milliseconds delay;
  bool fails = false;
};

/// A record of what the jobs did, in order: "toast started", "toast done", "burnt failed".
/// Tests check the order of these events instead of measuring time. Thread-safe, because
/// results_from_thread() runs the jobs on a second thread.
class Timeline {
 public:
  void record(std::string event);
  std::vector<std::string> events() const;
  /// Position of `event` in the record, or -1 if it never happened.
  int position(const std::string& event) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
};

/// The coroutine every task runs:
///     async def run_job(job): log("started"); await asyncio.sleep(job.delay); return ...
/// Returns "<name> ready", or throws std::runtime_error("<name> failed") if job.fails.
/// Logs and records "<name> started", then "<name> done" or "<name> failed".
asio::awaitable<std::string> run_job(Job job, std::shared_ptr<Timeline> timeline = nullptr);

/// asyncio.create_task(run_job(job)) for every job, with no one awaiting the tasks:
/// co_spawn(executor, run_job(job), tut::rethrow). Returns at once and the jobs overlap. A job
/// that fails makes io_context::run() throw its exception (nothing is lost).
void create_tasks(asio::any_io_executor executor, std::vector<Job> jobs,
                  std::shared_ptr<Timeline> timeline = nullptr);

/// `await asyncio.create_task(run_job(job))`: runs the job as a task of its own and suspends
/// the caller until it finishes; returns its value or rethrows its exception right here.
/// Tasks created before keep running meanwhile.
asio::awaitable<std::string> await_task(Job job, std::shared_ptr<Timeline> timeline = nullptr);

/// From plain code, without a coroutine: starts every job as a task with
/// co_spawn(..., asio::use_future), runs the io_context on a worker thread, and blocks in
/// std::future::get(). Returns the results in the order of `jobs` (not the order they finish).
/// If a job failed, rethrows the first failure (in the order of `jobs`) once all have finished.
std::vector<std::string> results_from_thread(std::vector<Job> jobs,
                                             std::shared_ptr<Timeline> timeline = nullptr);

/// The mistake this lesson warns about: co_spawn(executor, run_job(job), asio::detached).
/// If the job throws, the exception is destroyed and nothing anywhere reports it.
void spawn_detached(asio::any_io_executor executor, Job job,
                    std::shared_ptr<Timeline> timeline = nullptr);

}  // namespace lesson002
