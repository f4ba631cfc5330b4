// Exercise 019.1: a reference parameter that outlives what it refers to (lesson 019, debugging).
// upload_all(files) starts one upload() per file, all at once, and returns the paths they
// uploaded. It reuses one `path` variable for every file, and upload() takes its path by
// reference: each upload's frame keeps a reference to that one variable, not a copy, and reads
// it only after its first co_await, when the loop has long moved on. Every upload sends the
// last file. (Here `path` still exists, so the bug is a wrong answer; had it been a temporary
// or a local of a function that returned, it would be a dangling reference that only the asan
// build reports, lesson 019's pitfall 3.) Make each upload own what it needs.
// Check it: ./tutorial exercise check 019.1   (stuck? ./tutorial exercise hint 019.1)
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "run.hpp"    // tut::rethrow: a spawned task's exception is not lost
#include "sleep.hpp"  // tut::sleep(delay)

namespace exercise {

using namespace std::chrono_literals;

/// Uploads one file: waits for the network, then records the path it sent in *uploaded.
// TODO: a coroutine's reference parameter is only a reference: the caller's variable must stay
// alive and unchanged until the coroutine's last use of it, across every co_await. Take the
// path so that the coroutine frame owns it.
asio::awaitable<void> upload(const std::string& path, std::vector<std::string>* uploaded) {
  co_await tut::sleep(20ms);  // the network
  uploaded->push_back(path);
}

/// Uploads every file at once; returns the paths sent, in the order the uploads finished.
asio::awaitable<std::vector<std::string>> upload_all(std::vector<std::string> files) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<std::string> uploaded;
  std::string path;
  for (const std::string& file : files) {
    path = "/uploads/" + file;
    asio::co_spawn(executor, upload(path, &uploaded), tut::rethrow);
  }
  while (uploaded.size() < files.size()) co_await tut::sleep(5ms);  // wait for them all
  co_return uploaded;
}

}  // namespace exercise
