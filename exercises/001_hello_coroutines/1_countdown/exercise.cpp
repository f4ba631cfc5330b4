// Exercise 001.1: a countdown that really waits (lesson 001, hello coroutines).
// countdown(from, step) returns "3", "2", "1", "liftoff" (for from = 3), and waits `step`
// before each of them, so it takes (from + 1) * step. The starter creates the waits but never
// awaits them: the countdown is instant. Make each wait happen, with lesson001::say_after.
// Check it: ./tutorial exercise check 001.1   (stuck? ./tutorial exercise hint 001.1)
#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "hello.hpp"  // lesson001::say_after(delay, text): waits `delay`, then returns `text`

namespace exercise {

asio::awaitable<std::vector<std::string>> countdown(int from, std::chrono::milliseconds step) {
  std::vector<std::string> said;
  for (int i = from; i > 0; --i) {
    // TODO: this only *creates* the coroutine; nothing waits (lesson 001: a coroutine runs
    // when it is awaited). Await it, and keep the text it returns.
    auto pending = lesson001::say_after(step, std::to_string(i));
    said.push_back(std::to_string(i));
  }
  // TODO: "liftoff" comes after one more `step`, too.
  said.push_back("liftoff");
  co_return said;
}

}  // namespace exercise
