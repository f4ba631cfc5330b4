// Exercise 005.1, a solution: an RAII guard gives the connection back in its destructor, which
// runs however the coroutine ends (value, exception, cancellation, even a destroyed frame).
// The exception is not caught, so operation_aborted still reaches the caller.
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>

#include "sleep.hpp"

namespace exercise {

struct Pool {
  int in_use = 0;
};

namespace {
class Connection {
 public:
  explicit Connection(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) { ++pool_->in_use; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { --pool_->in_use; }

 private:
  std::shared_ptr<Pool> pool_;
};
}  // namespace

asio::awaitable<std::string> use_connection(std::shared_ptr<Pool> pool,
                                            std::chrono::milliseconds work) {
  Connection connection(pool);
  co_await tut::sleep(work);
  co_return "done";
}

}  // namespace exercise
