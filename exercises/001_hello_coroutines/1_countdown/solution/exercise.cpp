// Exercise 001.1, a solution: each say_after is co_awaited, so each wait happens in turn.
#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "hello.hpp"

namespace exercise {

asio::awaitable<std::vector<std::string>> countdown(int from, std::chrono::milliseconds step) {
  std::vector<std::string> said;
  for (int i = from; i > 0; --i) {
    std::string number = co_await lesson001::say_after(step, std::to_string(i));
    said.push_back(std::move(number));
  }
  std::string last = co_await lesson001::say_after(step, "liftoff");
  said.push_back(std::move(last));
  co_return said;
}

}  // namespace exercise
