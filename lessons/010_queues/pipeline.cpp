// Lesson 010: a producer and a pool of workers joined by a bounded queue.
//
// The queue does three jobs at once: it hands work to whichever worker is free, it slows the
// producer down to the workers' pace (back-pressure: put() waits while the queue is full),
// and with task_done()/join() and shutdown() it tells everybody when the work is over.
#include "pipeline.hpp"

#include <algorithm>
#include <utility>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "queue.hpp"

namespace lesson010 {

using namespace asio::experimental::awaitable_operators;

namespace {

// The queue and the report are taken by reference: both live in run_pipeline()'s frame, which
// awaits every coroutine that uses them (the `&&` below), so they outlive all of them.
asio::awaitable<void> produce(Queue<std::string>& queue, int jobs, PipelineReport& report) {
  for (int i = 1; i <= jobs; ++i) {
    std::string job = "job-" + std::to_string(i);
    if (queue.full()) {
      ++report.blocked_puts;
      tut::log("producer", "queue full ({}/{}): put({}) waits for a free slot", queue.size(),
               queue.maxsize(), job);
    }
    co_await queue.put(job);  // back-pressure: suspends here while the queue is full
    report.most_queued = std::max(report.most_queued, queue.size());
    tut::log("producer", "put {} ({} queued)", job, queue.size());
  }
  tut::log("producer", "all {} jobs queued; join() waits until each one is done", jobs);
  co_await queue.join();
  tut::log("producer", "join() returned: every job is done; shutdown() sends the workers home");
  queue.shutdown();
}

asio::awaitable<void> work(Queue<std::string>& queue, Worker me, std::vector<std::string>& done) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  for (;;) {
    std::string job;
    try {
      job = co_await queue.get();  // waits while the queue is empty
    } catch (const QueueShutDown&) {
      tut::log(me.name, "queue shut down: leaving after {} jobs", done.size());
      co_return;
    }
    tut::log(me.name, "got {}", job);
    timer.expires_after(me.cost);  // the "work"
    co_await timer.async_wait(asio::use_awaitable);
    done.push_back(job);
    tut::log(me.name, "done {}", job);
    queue.task_done();  // one fewer unfinished job: the producer's join() counts these
  }
}

}  // namespace

asio::awaitable<PipelineReport> run_pipeline(std::size_t maxsize, int jobs,
                                             std::vector<Worker> workers) {
  Queue<std::string> queue{maxsize};
  PipelineReport report;
  report.done.resize(workers.size());

  // Start the workers first: they wait on the empty queue until the producer puts something.
  // `a && b` runs both and waits for both (asyncio.gather); built in a variable first, since
  // g++ 12 mishandles temporaries inside one co_await expression.
  asio::awaitable<void> everyone = work(queue, workers.at(0), report.done[0]);
  for (std::size_t i = 1; i < workers.size(); ++i)
    everyone = std::move(everyone) && work(queue, workers[i], report.done[i]);
  everyone = std::move(everyone) && produce(queue, jobs, report);
  co_await std::move(everyone);
  co_return report;
}

}  // namespace lesson010
