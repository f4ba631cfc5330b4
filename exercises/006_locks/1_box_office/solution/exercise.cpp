// Exercise 006.1, a solution: the guard holds the mutex from the check to the update, so no
// other buyer can check while one is paying; it unlocks when the coroutine returns.
#include <chrono>
#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_mutex.hpp"
#include "sleep.hpp"

namespace exercise {

using namespace std::chrono_literals;

struct BoxOffice {
  BoxOffice(asio::any_io_executor executor, int seats) : seats_left(seats), mutex(std::move(executor)) {}
  int seats_left;
  lesson006::Mutex mutex;
};

asio::awaitable<bool> buy_ticket(std::shared_ptr<BoxOffice> office) {
  lesson006::LockGuard guard = co_await office->mutex.lock();
  if (office->seats_left == 0) co_return false;
  co_await tut::sleep(10ms);
  --office->seats_left;
  co_return true;
}

}  // namespace exercise
