// Lesson 008 demo: two workers and a producer share a job board through a condition.
#include <stdexcept>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "job_board.hpp"
#include "log.hpp"
#include "sleep.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson008::JobBoard;

asio::awaitable<void> producer(std::shared_ptr<JobBoard> board) {
  co_await tut::sleep(100ms);
  std::vector<std::string> first{"job-1", "job-2"};
  co_await lesson008::post_jobs(board, first);  // two workers wait: both wake
  co_await tut::sleep(100ms);
  std::vector<std::string> second{"job-3"};
  co_await lesson008::post_jobs(board, second);  // both busy: the notification wakes nobody,
  co_await tut::sleep(200ms);                     // but the job waits on the board
  co_await lesson008::close_board(board);
}

asio::awaitable<void> worker(std::shared_ptr<JobBoard> board, std::string name) {
  co_await lesson008::take_jobs(board, name, 200ms);  // each job keeps it busy for 0.2s
}

asio::awaitable<void> demo() {
  tut::reset_clock();  // the clock starts with the demo, not with the process
  auto board = std::make_shared<JobBoard>(co_await asio::this_coro::executor);
  auto everyone = worker(board, "worker-1") && worker(board, "worker-2") && producer(board);
  co_await std::move(everyone);  // all three, concurrently

  try {
    board->changed.notify();  // without holding board->mutex
  } catch (const std::logic_error& error) {
    tut::log("main", "notify() without the lock throws: {}", error.what());
  }
}

int main() { tut::run(demo()); }
