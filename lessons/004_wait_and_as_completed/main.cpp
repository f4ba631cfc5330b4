// Lesson 004 demo: race with ||, asyncio.wait's three policies with a parallel group, and
// as_completed with a queue. Watch when each wait returns and what happens to the losers.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <asio/this_coro.hpp>

#include "demo.hpp"
#include "log.hpp"
#include "run.hpp"
#include "wait.hpp"

using namespace std::chrono_literals;
using lesson004::Job;
using lesson004::Journal;
using lesson004::ReturnWhen;

namespace {

asio::awaitable<void> show_wait(const char* policy, std::array<Job, 3> jobs, ReturnWhen when) {
  auto journal = std::make_shared<Journal>();
  auto result = co_await lesson004::wait_jobs(std::move(jobs), when, journal);
  tut::log("main", "{} returned; completion order {}", policy, result.order);
  for (std::size_t i = 0; i < 3; ++i)
    tut::log("main", "  job {}: {}", i, lesson004::describe(result.outcomes[i]));
}

asio::awaitable<void> demo() {
  tut::part("1. a || b: the first to succeed wins, the other is cancelled");
  {
    auto journal = std::make_shared<Journal>();
    // Jobs built before the co_await: g++ 12 miscompiles braced temporaries inside one.
    Job fast{"fast", 100ms}, slow{"slow", 300ms};
    auto winner = co_await lesson004::race(fast, slow, journal);
    tut::log("main", "winner: branch {} ({}); the loser ended before || returned", winner.index(),
             winner.index() == 0 ? std::get<0>(winner) : std::get<1>(winner));
  }

  tut::part("2. the trap: || waits for the first SUCCESS, a failure does not end the race");
  {
    auto journal = std::make_shared<Journal>();
    Job broken{"broken", 100ms, true}, steady{"steady", 300ms};
    auto winner = co_await lesson004::race(broken, steady, journal);
    tut::log("main", "winner: branch {}, only when steady succeeded; broken's error was dropped",
             winner.index());
  }

  tut::part("3. wait_for_one() = FIRST_COMPLETED: the failure at 0.1s ends the wait");
  std::array<Job, 3> first_jobs{{{"steady", 600ms}, {"broken", 100ms, true}, {"medium", 400ms}}};
  co_await show_wait("wait_for_one", first_jobs, ReturnWhen::first_completed);

  tut::part("4. wait_for_one_error() = FIRST_EXCEPTION: successes do not end it, a failure does");
  std::array<Job, 3> error_jobs{{{"slow", 600ms}, {"ok", 100ms}, {"bad", 200ms, true}}};
  co_await show_wait("wait_for_one_error", error_jobs, ReturnWhen::first_exception);

  tut::part("5. wait_for_all() = ALL_COMPLETED: nothing is cancelled");
  std::array<Job, 3> all_jobs{{{"slow", 300ms}, {"bad", 200ms, true}, {"quick", 100ms}}};
  co_await show_wait("wait_for_all", all_jobs, ReturnWhen::all_completed);

  tut::part("6. as_completed: results in the order the jobs finish, from a queue");
  {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"w", 300ms}, {"x", 100ms}, {"y", 400ms, true}, {"z", 200ms}};
    lesson004::AsCompleted pending(executor, std::move(jobs), std::make_shared<Journal>());
    while (pending.remaining() > 0) {
      auto next = co_await pending.next();
      tut::log("main", "got job {} ({}): {}", next.index, next.name,
               lesson004::describe(next.outcome));
    }
  }

  tut::part("7. asyncio.wait leaves the losers running: take the first, cancel the rest later");
  {
    auto executor = co_await asio::this_coro::executor;
    std::vector<Job> jobs{{"quick", 100ms}, {"middle", 200ms}, {"sloth", 900ms}};
    lesson004::AsCompleted pending(executor, std::move(jobs), std::make_shared<Journal>());
    auto first = co_await pending.next();
    tut::log("main", "first: {}; {} still running, nothing was cancelled", first.name,
             pending.remaining());
    auto second = co_await pending.next();
    tut::log("main", "second: {}; enough waiting, cancel the rest", second.name);
    pending.cancel_running();
    auto last = co_await pending.next();
    tut::log("main", "last: {} ({})", last.name, lesson004::describe(last.outcome));
  }
}

}  // namespace

int main() {
  tut::run(demo());
  return 0;
}
