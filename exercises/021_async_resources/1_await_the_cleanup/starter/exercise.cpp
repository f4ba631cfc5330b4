// Exercise 021.1: a cleanup that awaits, skipped on a cancel (lesson 021, async resources).
// transfer() says hello to a server, sends its data, and must say goodbye however
// it ends: with its value, with an error, or cancelled. Saying goodbye is itself asynchronous
// (say_goodbye() awaits the network), so no destructor can do it. The starter says goodbye
// only on the happy path: an error or a cancellation during the work skips it.
// Check it: ./tutorial exercise check 021.1   (stuck? ./tutorial exercise hint 021.1)
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "sleep.hpp"  // tut::sleep(delay)

namespace exercise {

/// What the server saw: "hello", "sent", "goodbye".
struct Server {
  std::vector<std::string> log;
};

/// Given by the tests: tells the server goodbye, which takes a moment (an await).
asio::awaitable<void> say_goodbye(std::shared_ptr<Server> server);

/// Sends for `work`, then returns "done"; throws std::runtime_error("transfer failed") at the
/// end of the work if `fail`. Cancelled, it ends with operation_aborted, as a cancelled task must.
asio::awaitable<std::string> transfer(std::shared_ptr<Server> server,
                                      std::chrono::milliseconds work, bool fail) {
  server->log.push_back("hello");
  // TODO: if the work throws (an error, or operation_aborted when the task is cancelled), the
  // goodbye below never runs. Catch the exception into a std::exception_ptr, await the goodbye
  // outside the catch block (after a cancellation, mind lesson 021's throw_if_cancelled), then
  // rethrow it.
  co_await tut::sleep(work);
  if (fail) throw std::runtime_error("transfer failed");
  server->log.push_back("sent");
  co_await say_goodbye(server);
  co_return "done";
}

}  // namespace exercise
