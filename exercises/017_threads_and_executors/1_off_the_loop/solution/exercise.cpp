// Exercise 017.1, a solution: to_thread() runs the blocking call on a pool thread and resumes
// this coroutine on its own executor with the result; the loop runs other coroutines meanwhile.
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "threads.hpp"

namespace exercise {

int blocking_checksum(int n);

asio::awaitable<int> checksum(std::shared_ptr<asio::thread_pool> pool, int n) {
  auto work = [n] { return blocking_checksum(n); };  // named first: simple co_await below (g++ 12)
  int sum = co_await lesson017::to_thread(*pool, work);
  co_return sum;
}

}  // namespace exercise
