// Exercise 010.1: a worker pool that knows when to stop (lesson 010, queues).
// square_all() puts the index of every number in a lesson010::Queue; `workers` worker tasks
// take them and compute slow_square(), so `workers` squares are computed at once. The results
// are right, but the workers wait in get() forever after the last job and the event loop never
// ends. Once every job is done, end the workers the way lesson 010 ends them.
// Check it: ./tutorial exercise check 010.1   (stuck? ./tutorial exercise hint 010.1)
#include <cstddef>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "queue.hpp"  // lesson010::Queue<T>: put, get, task_done, join, shutdown, QueueShutDown
#include "run.hpp"    // tut::rethrow

namespace exercise {

/// Given by the tests: takes a while (a timer), then returns n * n.
asio::awaitable<int> slow_square(int n);

namespace {
using Jobs = lesson010::Queue<std::size_t>;  // the index of each number to square

asio::awaitable<void> worker(std::shared_ptr<Jobs> jobs, std::shared_ptr<std::vector<int>> numbers,
                             std::shared_ptr<std::vector<int>> results) {
  while (true) {
    // TODO (2 of 2): once the queue is shut down and empty, get() throws
    // lesson010::QueueShutDown: that is this worker's signal to end, not an error.
    std::size_t index = co_await jobs->get();
    int square = co_await slow_square((*numbers)[index]);
    (*results)[index] = square;
    jobs->task_done();
  }
}
}  // namespace

asio::awaitable<std::vector<int>> square_all(std::vector<int> numbers, int workers) {
  auto executor = co_await asio::this_coro::executor;
  auto jobs = std::make_shared<Jobs>();
  auto shared_numbers = std::make_shared<std::vector<int>>(std::move(numbers));
  auto results = std::make_shared<std::vector<int>>(shared_numbers->size());
  for (int i = 0; i < workers; ++i) {
    asio::co_spawn(executor, worker(jobs, shared_numbers, results), tut::rethrow);
  }
  for (std::size_t index = 0; index < shared_numbers->size(); ++index) {
    co_await jobs->put(index);
  }
  co_await jobs->join();  // every job taken and marked done
  // TODO (1 of 2): the workers now wait in get() for a job that never comes, so the event
  // loop always has work left and never returns. Tell them there is no more work.
  co_return *results;
}

}  // namespace exercise
