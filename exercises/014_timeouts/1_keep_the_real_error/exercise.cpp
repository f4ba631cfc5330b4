// Exercise 014.1: a timeout that does not hide the real error (lesson 014, timeouts).
// ask(question, limit) returns the backend's answer, or "no answer in time" if it takes longer
// than `limit`. If the backend fails, ask() must throw its error at once. The starter races
// the request against a timer with `||`, which waits for the first *success*: a failing
// request loses the race to the timer, and the caller waits out the limit for a wrong answer.
// Check it: ./tutorial exercise check 014.1   (stuck? ./tutorial exercise hint 014.1)
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>

#include "timeouts.hpp"  // lesson014::with_timeout, lesson014::TimeoutError, naive_with_timeout

namespace exercise {

/// Given by the tests: the backend. Answers after a while, or throws std::runtime_error.
asio::awaitable<std::string> request(std::string question);

asio::awaitable<std::string> ask(std::string question, std::chrono::milliseconds limit) {
  // TODO: naive_with_timeout() is `request || timer`: a request that fails at once does not
  // end the race, the timer does, and the error is lost. Use lesson 014's timeout that ends
  // with the request's error, and turn only a timeout into the fallback answer.
  std::optional<std::string> answer =
      co_await lesson014::naive_with_timeout(request(std::move(question)), limit);
  if (!answer) co_return "no answer in time";
  co_return *answer;
}

}  // namespace exercise
