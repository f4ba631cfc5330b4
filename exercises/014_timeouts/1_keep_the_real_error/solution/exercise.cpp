// Exercise 014.1, a solution: with_timeout() throws the request's own error as soon as it
// fails, and TimeoutError only when the limit passes; only the latter becomes the fallback.
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <asio/awaitable.hpp>

#include "timeouts.hpp"

namespace exercise {

asio::awaitable<std::string> request(std::string question);

asio::awaitable<std::string> ask(std::string question, std::chrono::milliseconds limit) {
  std::optional<std::string> answer;
  try {
    answer = co_await lesson014::with_timeout(request(std::move(question)), limit);
  } catch (const lesson014::TimeoutError&) {
    // no co_await in a catch block: note it, answer below
  }
  if (!answer) co_return "no answer in time";
  co_return *answer;
}

}  // namespace exercise
