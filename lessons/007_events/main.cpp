// Lesson 007 demo: workers wait for a start signal; set() releases all of them at once.
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "async_event.hpp"
#include "log.hpp"
#include "sleep.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using lesson007::Event;

// The event is shared: every task that may wait on it keeps it alive.
asio::awaitable<void> worker(std::shared_ptr<Event> start, std::string name) {
  tut::log(name, "waits for the start signal");
  co_await start->wait();
  tut::log(name, "starts");
}

asio::awaitable<void> demo() {
  tut::reset_clock();  // the clock starts with the demo, not with the process
  auto executor = co_await asio::this_coro::executor;
  auto start = std::make_shared<Event>(executor);
  for (const char* name : {"worker-1", "worker-2", "worker-3"})
    asio::co_spawn(executor, worker(start, name), tut::rethrow);

  co_await tut::sleep(100ms);
  start->set();  // wakes all three, but none of them runs inside set()
  tut::log("main", "set(): woke every waiter; none has run yet");
  start->clear();
  tut::log("main", "clear(): is_set() is {}, but woken waiters still start", start->is_set());

  co_await tut::sleep(100ms);
  asio::co_spawn(executor, worker(start, "late"), tut::rethrow);  // the flag is down: it waits
  co_await tut::sleep(100ms);
  start->set();
  tut::log("main", "set() again");
  co_await start->wait();  // already set: returns at once, "late" has still not run
  tut::log("main", "wait() on a set event returned at once");
}

int main() { tut::run(demo()); }
