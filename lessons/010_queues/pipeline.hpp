// Lesson 010: the demo workloads: one producer, a few workers, a small queue between them;
// the same with a worker that throws; the same with asio::experimental::channel.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson010 {

using std::chrono::milliseconds;

/// One worker: its name and how long each job takes it.
struct Worker {
  std::string name;
  milliseconds cost;
};

/// What the pipeline did, for the demo's summary and the tests.
struct PipelineReport {
  std::vector<std::vector<std::string>> done;  // per worker, the jobs it finished, in order
  int blocked_puts = 0;                        // puts that found the queue full and waited
  std::size_t most_queued = 0;                 // the largest queue size the producer saw
};

/// The asyncio docs' worker-pool example with back-pressure: a producer puts `jobs` jobs
/// ("job-1", ...) into a Queue of `maxsize` as fast as it may, the workers take them and
/// sleep their cost for each. When the queue is full the producer's put() waits for a
/// worker to take a job. Then the producer join()s (every job done) and shuts the queue down,
/// which ends the idle workers: their get() throws QueueShutDown.
/// The worker that takes `failing_job` (if not empty) throws std::runtime_error after working
/// on it, before its task_done(): then the workers' gather cancels the producer's join() and
/// run_pipeline() throws that error, where asyncio's version of this example hangs in join().
asio::awaitable<PipelineReport> run_pipeline(std::size_t maxsize, int jobs,
                                             std::vector<Worker> workers,
                                             std::string failing_job = {});

/// The same producer and one worker with Asio's own queue, asio::experimental::channel of
/// `capacity` messages: the producer sends `jobs` jobs, waiting while the channel is full,
/// then sends asio::error::eof as end-of-stream; the worker receives until eof. done[0] holds
/// the jobs received, in order; blocked_puts the sends that found the channel full.
asio::awaitable<PipelineReport> run_channel(std::size_t capacity, int jobs, milliseconds cost);

}  // namespace lesson010
