// Exercise 019.1, a solution: upload() takes its path by value, so each upload's coroutine
// frame holds its own copy, whatever the caller's variable becomes while it waits.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "run.hpp"
#include "sleep.hpp"

namespace exercise {

using namespace std::chrono_literals;

asio::awaitable<void> upload(std::string path, std::vector<std::string>* uploaded) {
  co_await tut::sleep(20ms);  // the network
  uploaded->push_back(path);
}

asio::awaitable<std::vector<std::string>> upload_all(std::vector<std::string> files) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<std::string> uploaded;
  std::string path;
  for (const std::string& file : files) {
    path = "/uploads/" + file;
    asio::co_spawn(executor, upload(path, &uploaded), tut::rethrow);  // upload() copies path
  }
  while (uploaded.size() < files.size()) co_await tut::sleep(5ms);
  co_return uploaded;
}

}  // namespace exercise
