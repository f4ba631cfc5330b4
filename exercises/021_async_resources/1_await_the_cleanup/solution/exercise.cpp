// Exercise 021.1, a solution: lesson 021's pattern (async_with's). The work's exception is
// caught into an exception_ptr; outside the catch block (no co_await there) the cancellation
// check is turned off so that the goodbye's own awaits can run after a cancel, the goodbye is
// awaited, and the exception is rethrown: the caller still sees the error or operation_aborted.
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "sleep.hpp"

namespace exercise {

struct Server {
  std::vector<std::string> log;
};

asio::awaitable<void> say_goodbye(std::shared_ptr<Server> server);

asio::awaitable<std::string> transfer(std::shared_ptr<Server> server,
                                      std::chrono::milliseconds work, bool fail) {
  server->log.push_back("hello");
  std::exception_ptr error;
  try {
    co_await tut::sleep(work);
    if (fail) throw std::runtime_error("transfer failed");
    server->log.push_back("sent");
  } catch (...) {
    error = std::current_exception();  // no co_await in a catch block: note it
  }
  // After a terminal cancellation every co_await throws before it starts (lesson 005).
  const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  co_await say_goodbye(server);
  co_await asio::this_coro::throw_if_cancelled(was_checking);
  if (error) std::rethrow_exception(error);
  co_return "done";
}

}  // namespace exercise
