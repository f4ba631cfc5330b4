// Lesson 010: a producer and a pool of workers joined by a bounded queue, which hands work to
// whichever worker is free, slows the producer to the workers' pace (put() waits while full),
// and with task_done()/join() and shutdown() tells everybody when the work is over.
#include "pipeline.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "gather.hpp"  // lesson 003's
#include "log.hpp"
#include "sleep.hpp"
#include "queue.hpp"

namespace lesson010 {

using namespace asio::experimental::awaitable_operators;

namespace {

// The queue and the report are taken by reference: both live in run_pipeline()'s frame, which
// awaits every coroutine that uses them (the gather below), so they outlive all of them.
// Returns the jobs it put, as each worker returns the jobs it did.
asio::awaitable<std::vector<std::string>> produce(Queue<std::string>& queue, int jobs,
                                                  PipelineReport& report) {
  std::vector<std::string> put;
  for (int i = 1; i <= jobs; ++i) {
    std::string job = "job-" + std::to_string(i);
    if (queue.full()) {
      ++report.blocked_puts;
      tut::log("producer", "queue full ({}/{}): put({}) waits for a free slot", queue.size(),
               queue.maxsize(), job);
    }
    co_await queue.put(job);  // back-pressure: suspends here while the queue is full
    put.push_back(job);
    report.most_queued = std::max(report.most_queued, queue.size());
    tut::log("producer", "put {} ({} queued)", job, queue.size());
  }
  tut::log("producer", "all {} jobs queued; join() waits until each one is done", jobs);
  try {
    co_await queue.join();
  } catch (const std::system_error&) {  // cancelled: a worker failed (no co_await in here)
    tut::log("producer", "join() cancelled: a worker failed, its job will never be done");
    throw;
  }
  tut::log("producer", "join() returned: every job is done; shutdown() sends the workers home");
  queue.shutdown();
  co_return put;
}

asio::awaitable<std::vector<std::string>> work(Queue<std::string>& queue, Worker me,
                                                std::string failing_job) {
  std::vector<std::string> done;
  for (;;) {
    std::string job;
    try {
      job = co_await queue.get();  // waits while the queue is empty
    } catch (const QueueShutDown&) {
      tut::log(me.name, "queue shut down: leaving after {} jobs", done.size());
      co_return done;
    }
    tut::log(me.name, "got {}", job);
    co_await tut::sleep(me.cost);  // the "work"
    if (job == failing_job) {
      tut::log(me.name, "{} fails: throws before its task_done()", job);
      throw std::runtime_error(me.name + " failed on " + job);
    }
    done.push_back(job);
    tut::log(me.name, "done {}", job);
    queue.task_done();  // one fewer unfinished job: the producer's join() counts these
  }
}

// asio::experimental::channel<void(error_code, std::string)>: Asio's own bounded queue.
using Channel = asio::experimental::channel<void(std::error_code, std::string)>;

asio::awaitable<void> send_jobs(Channel& channel, int jobs, PipelineReport& report) {
  const std::error_code no_error;
  for (int i = 1; i <= jobs; ++i) {
    std::string job = "job-" + std::to_string(i);
    if (!channel.try_send(no_error, job)) {  // the buffer is full: wait for room
      ++report.blocked_puts;
      tut::log("producer", "channel full: async_send({}) waits", job);
      co_await channel.async_send(no_error, job, asio::use_awaitable);
    }
    tut::log("producer", "sent {}", job);
  }
  // End of stream as a message, not close(): Asio 1.22's close() drops buffered messages.
  const std::error_code end = asio::error::eof;
  co_await channel.async_send(end, std::string(), asio::use_awaitable);
  tut::log("producer", "sent eof: no more jobs");
}

asio::awaitable<void> receive_jobs(Channel& channel, milliseconds cost,
                                   std::vector<std::string>& done) {
  auto token = compat::as_tuple(asio::use_awaitable);  // the error as a value: eof ends the loop
  for (;;) {
    auto [error, job] = co_await channel.async_receive(token);
    if (error) break;
    // No log line here: the receive also completes the producer's waiting async_send in the
    // same tick, and which of the two resumes first differs between Asio releases (1.27+ posts
    // the sender's completion). A log line after the work is ordered by this coroutine alone.
    co_await tut::sleep(cost);
    tut::log("worker", "done {}", job);
    done.push_back(std::move(job));
  }
  tut::log("worker", "eof: received {} jobs", done.size());
}

}  // namespace

asio::awaitable<PipelineReport> run_pipeline(std::size_t maxsize, int jobs,
                                             std::vector<Worker> workers,
                                             std::string failing_job) {
  Queue<std::string> queue{maxsize};
  PipelineReport report;

  // The workers first: they wait on the empty queue. Lesson 003's gather (asyncio.gather) runs
  // them all; the first to throw makes it cancel the others, wait for them, and rethrow.
  std::vector<asio::awaitable<std::vector<std::string>>> everyone;
  for (auto& worker : workers) everyone.push_back(work(queue, worker, failing_job));
  everyone.push_back(produce(queue, jobs, report));
  auto done = co_await lesson003::gather(std::move(everyone));
  done.pop_back();  // the producer's
  report.done = std::move(done);
  co_return report;
}

asio::awaitable<PipelineReport> run_channel(std::size_t capacity, int jobs, milliseconds cost) {
  Channel channel(co_await asio::this_coro::executor, capacity);
  PipelineReport report;
  report.done.resize(1);
  auto both = send_jobs(channel, jobs, report) && receive_jobs(channel, cost, report.done[0]);
  co_await std::move(both);
  co_return report;
}

}  // namespace lesson010
