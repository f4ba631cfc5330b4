// Lesson 008: workers and a producer sharing a job board through a mutex and a condition.
#include "job_board.hpp"

#include <functional>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace lesson008 {

namespace {
std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}
}  // namespace

asio::awaitable<std::vector<std::string>> take_jobs(std::shared_ptr<JobBoard> board,
                                                    std::string name, milliseconds work) {
  // The state we wait for, checked with the mutex held. (Built here, not inside co_await.)
  std::function<bool()> has_news = [board] { return !board->jobs.empty() || board->closed; };
  std::vector<std::string> taken;
  for (;;) {
    std::string job;
    {
      auto guard = co_await board->mutex.lock();
      if (!has_news()) tut::log(name, "waits for a job");
      co_await board->changed.wait_for(has_news);  // unlocks while waiting, relocks after
      if (board->jobs.empty()) break;              // closed, and nothing left to do
      job = std::move(board->jobs.front());
      board->jobs.pop_front();
      tut::log(name, "takes {}", job);
    }  // the guard unlocks: others may take jobs while we work
    asio::steady_timer timer(co_await asio::this_coro::executor, work);
    co_await timer.async_wait(asio::use_awaitable);
    taken.push_back(std::move(job));
  }
  tut::log(name, "sees the board closed: stops after {}", joined(taken));
  co_return taken;
}

asio::awaitable<void> post_jobs(std::shared_ptr<JobBoard> board, std::vector<std::string> jobs) {
  auto guard = co_await board->mutex.lock();  // notify() requires the mutex, as in asyncio
  for (const auto& job : jobs) board->jobs.push_back(job);
  tut::log("producer", "posts {}, notify({}) with {} waiting", joined(jobs), jobs.size(),
           board->changed.waiting());
  board->changed.notify(jobs.size());  // the woken run after we unlock, never in here
}

asio::awaitable<void> close_board(std::shared_ptr<JobBoard> board) {
  auto guard = co_await board->mutex.lock();
  board->closed = true;
  tut::log("producer", "closes the board, notify_all() with {} waiting",
           board->changed.waiting());
  board->changed.notify_all();
}

}  // namespace lesson008
