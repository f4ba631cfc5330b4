// Exercise 010.1, a solution: after join(), shutdown() wakes every worker waiting in get()
// with QueueShutDown, and each worker ends there, quietly.
#include <cstddef>
#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "queue.hpp"
#include "run.hpp"

namespace exercise {

asio::awaitable<int> slow_square(int n);

namespace {
using Jobs = lesson010::Queue<std::size_t>;

asio::awaitable<void> worker(std::shared_ptr<Jobs> jobs, std::shared_ptr<std::vector<int>> numbers,
                             std::shared_ptr<std::vector<int>> results) {
  while (true) {
    std::size_t index = 0;
    try {
      index = co_await jobs->get();
    } catch (const lesson010::QueueShutDown&) {
      co_return;  // no more work
    }
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
  co_await jobs->join();
  jobs->shutdown();
  co_return *results;
}

}  // namespace exercise
