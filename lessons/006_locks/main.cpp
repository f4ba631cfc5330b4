// Lesson 006 demo: three deposits lose updates without a lock, and keep them all with one.
#include <stdexcept>

#include <asio/this_coro.hpp>

#include "bank.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;

asio::awaitable<void> demo() {
  tut::reset_clock();  // the clock starts with the demo, not with the process
  std::vector<std::string> names{"alice", "bob", "carol"};

  // One thread, no preemption: and still a race, because each deposit awaits in the middle.
  int balance = co_await lesson006::deposit_concurrently(names, false, 100ms);
  tut::log("main", "no lock: 3 deposits, balance {}: {} updates lost", balance, 3 - balance);

  balance = co_await lesson006::deposit_concurrently(names, true, 100ms);
  tut::log("main", "with the lock: balance {}, deposits served in arrival order", balance);

  lesson006::Mutex mutex(co_await asio::this_coro::executor);
  try {
    mutex.unlock();
  } catch (const std::logic_error& error) {
    tut::log("main", "unlock() of a free mutex throws: {}", error.what());
  }
}

int main() { tut::run(demo()); }
