// Exercise 005.1: give the connection back even when cancelled (lesson 005, cancellation).
// use_connection() takes a connection from the pool, works with it, and gives it back. When
// the task is cancelled during the work, the co_await throws operation_aborted and the line
// that gives it back never runs: the pool leaks. Give it back however the coroutine ends, and
// let the cancellation go on (the caller must still see operation_aborted).
// Check it: ./tutorial exercise check 005.1   (stuck? ./tutorial exercise hint 005.1)
#include <chrono>
#include <memory>
#include <string>

#include <asio/awaitable.hpp>

#include "sleep.hpp"  // tut::sleep(delay): cancelled, it throws system_error(operation_aborted)

namespace exercise {

struct Pool {
  int in_use = 0;  // connections taken and not yet given back
};

asio::awaitable<std::string> use_connection(std::shared_ptr<Pool> pool,
                                            std::chrono::milliseconds work) {
  ++pool->in_use;  // take a connection
  // TODO: if the task is cancelled here, tut::sleep throws operation_aborted, the coroutine
  // ends, and the --pool->in_use below never runs. Make the release happen on every way out.
  co_await tut::sleep(work);  // the work, done over the connection
  --pool->in_use;             // give it back
  co_return "done";
}

}  // namespace exercise
