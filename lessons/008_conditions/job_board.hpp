// Lesson 008: a job board, the classic use of a condition. Workers wait, with the mutex
// held, until there is a job or the board is closed; the producer notifies after each change.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_condition.hpp"
#include "async_mutex.hpp"

namespace lesson008 {

using std::chrono::milliseconds;

/// The shared state, the mutex that guards it and the condition that announces changes.
struct JobBoard {
  explicit JobBoard(asio::any_io_executor executor) : mutex(std::move(executor)), changed(mutex) {}
  lesson006::Mutex mutex;
  Condition changed;  // notified when jobs are posted or the board closes
  std::deque<std::string> jobs;
  bool closed = false;
};

/// A worker: takes one job at a time (under the mutex), works on it for `work` without the
/// mutex, until the board is closed and empty. Returns the jobs it took, in order.
asio::awaitable<std::vector<std::string>> take_jobs(std::shared_ptr<JobBoard> board,
                                                    std::string name, milliseconds work);

/// Posts `jobs` on the board and wakes as many workers (notify(jobs.size())).
asio::awaitable<void> post_jobs(std::shared_ptr<JobBoard> board, std::vector<std::string> jobs);

/// Closes the board and wakes every worker (notify_all()): they stop once it is empty.
asio::awaitable<void> close_board(std::shared_ptr<JobBoard> board);

}  // namespace lesson008
