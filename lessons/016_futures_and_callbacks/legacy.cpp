// Lesson 016: the pretend legacy library behind async_lookup() (legacy.hpp). Plain threads and
// a condition variable, no Asio: this is the kind of code an async_initiate wrapper adapts.
#include "legacy.hpp"

#include <cerrno>
#include <map>

#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>


namespace lesson016 {

LegacyDirectory::LegacyDirectory(std::chrono::milliseconds latency)
    : latency_(latency), worker_([this] { work(); }) {}

LegacyDirectory::~LegacyDirectory() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void LegacyDirectory::lookup(std::string name, Callback callback) {
  {
    std::lock_guard lock(mutex_);
    jobs_.emplace_back(std::move(name), std::move(callback));
  }
  wake_.notify_one();
}

void LegacyDirectory::work() {
  static const std::map<std::string, int> numbers{{"answer", 42}, {"port", 8080}};
  for (;;) {
    std::pair<std::string, Callback> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing, and nothing left to answer
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::this_thread::sleep_for(latency_);  // the slow backend
    auto found = numbers.find(job.first);
    // The callback runs here, on the library's thread, with no lock held.
    if (found == numbers.end())
      job.second(ENOENT, 0);
    else
      job.second(0, found->second);
  }
}

namespace {
// Parameters by value (a pointer to the directory, which outlives the io_context run).
asio::awaitable<Answer> lookup_awaiting(LegacyDirectory* directory, std::string name) {
  auto executor = co_await asio::this_coro::executor;
  Answer answer;
  try {
    answer.value = co_await async_lookup(executor, *directory, name, asio::use_awaitable);
  } catch (const std::system_error& e) {
    answer.error = e.code();
  }
  co_return answer;
}
}  // namespace

std::vector<Answer> lookup_three_ways(LegacyDirectory& directory, std::string name) {
  asio::io_context io;
  std::vector<Answer> answers;

  // 1. A callback. run() returns only after it ran: the wrapper's work guard kept it waiting.
  async_lookup(io.get_executor(), directory, name, [&](std::error_code error, int value) {
    answers.push_back({error, value});
  });
  io.run();
  io.restart();

  // 2. use_future: the loop runs on another thread, this one blocks in get().
  // A shared_future, declared before the loop thread: the result (and an exception in it)
  // is released here on this thread, after the join, never on the other thread.
  std::shared_future<int> number =
      async_lookup(io.get_executor(), directory, name, asio::use_future).share();
  {
    std::jthread loop_thread([&io] { io.run(); });
    try {
      answers.push_back({{}, number.get()});
    } catch (const std::system_error& e) {
      answers.push_back({e.code(), 0});
    }
  }
  io.restart();

  // 3. use_awaitable, in a coroutine.
  auto awaited = asio::co_spawn(io, lookup_awaiting(&directory, name), asio::use_future);
  io.run();
  answers.push_back(awaited.get());
  return answers;
}

}  // namespace lesson016
