#include "threads.hpp"

#include <atomic>
#include <stdexcept>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;
using tut::test::run_within;

TEST_CASE("to_thread runs the work on a pool thread and resumes on the loop thread") {
  asio::thread_pool pool(2);
  auto [work_thread, resumed_thread, loop_thread] =
      run_within([](asio::thread_pool& p) -> asio::awaitable<
                                              std::tuple<std::thread::id, std::thread::id,
                                                         std::thread::id>> {
        auto loop = std::this_thread::get_id();
        auto worker = co_await lesson017::to_thread(p, [] { return std::this_thread::get_id(); });
        co_return std::tuple{worker, std::this_thread::get_id(), loop};
      }(pool));
  CHECK(work_thread != loop_thread);
  CHECK(resumed_thread == loop_thread);
}

TEST_CASE("to_thread keeps the loop free while the work blocks") {
  asio::thread_pool pool(1);
  int ticks_during_work = run_within([](asio::thread_pool& p) -> asio::awaitable<int> {
    using namespace asio::experimental::awaitable_operators;
    std::atomic<int> ticks{0};
    std::atomic<bool> done{false};
    // Blocking work that ends only once the loop has proved it is alive: three ticks.
    auto blocking = [&ticks, &done] {
      while (ticks.load() < 3) std::this_thread::sleep_for(1ms);
      done = true;
    };
    // A named lambda, awaited below: its frame and the counters outlive every tick.
    auto ticking = [&ticks, &done]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (!done) {
        timer.expires_after(2ms);
        co_await timer.async_wait(asio::use_awaitable);
        ++ticks;
      }
    };
    co_await (lesson017::to_thread(p, blocking) && ticking());
    co_return ticks.load();
  }(pool));
  CHECK(ticks_during_work >= 3);
}

TEST_CASE("to_thread rethrows the work's exception in the awaiting coroutine") {
  asio::thread_pool pool(1);
  auto failing = [](asio::thread_pool& p) -> asio::awaitable<int> {
    co_return co_await lesson017::to_thread(p, []() -> int { throw std::runtime_error("disk on fire"); });
  };
  REQUIRE_THROWS_WITH(run_within(failing(pool)), "disk on fire");
}

TEST_CASE("a strand runs one handler at a time, so a plain counter stays exact") {
  auto result = lesson017::count_in_handlers(4, 3000, true);
  CHECK(result.total == 3000);
  CHECK(result.most_at_once == 1);
  // The same check fails without the strand: the meter does see handlers overlap.
  CHECK_FALSE(lesson017::count_in_handlers(4, 3000, false).most_at_once == 1);
}

TEST_CASE("without a strand, handlers of a multi-threaded io_context run at the same time") {
  // Each handler sleeps 50 us inside the meter, so with 4 threads and 3000 handlers a second
  // thread is in a handler while another one is: overlap needs no fast machine, only that the
  // scheduler hands work to more than one thread.
  auto result = lesson017::count_in_handlers(4, 3000, false);
  CHECK(result.total == 3000);
  CHECK(result.most_at_once >= 2);
  // The same check fails where handlers cannot overlap: through a strand, or with one thread.
  CHECK_FALSE(lesson017::count_in_handlers(4, 3000, true).most_at_once >= 2);
  CHECK_FALSE(lesson017::count_in_handlers(1, 3000, false).most_at_once >= 2);
}

TEST_CASE("a concurrent_channel carries every item from a plain thread, in order") {
  auto received = run_within(lesson017::receive_from_plain_thread(500));
  REQUIRE(received.size() == 500);
  for (int i = 0; i < 500; ++i) CHECK(received[static_cast<std::size_t>(i)] == i + 1);
}

TEST_CASE("a receiver that is cancelled does not leave the producer thread blocked") {
  // The producer fills the channel (capacity 4) and blocks; the coroutine is cancelled by a
  // timer before receiving everything. The guard must unblock and join the thread, or this
  // test hangs (run_within fails it) or terminates.
  using namespace asio::experimental::awaitable_operators;
  auto race = []() -> asio::awaitable<bool> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
    auto receiving = lesson017::receive_from_plain_thread(1'000'000);
    auto result = co_await (std::move(receiving) || timer.async_wait(asio::use_awaitable));
    co_return result.index() == 1;  // the timer won
  };
  CHECK(run_within(race()));
}

TEST_CASE("run_coroutine_threadsafe: a plain thread gets a coroutine's result from another loop") {
  asio::io_context loop;
  auto guard = asio::make_work_guard(loop);
  std::thread loop_thread([&] { loop.run(); });
  auto reply = lesson017::ask_the_loop_from_a_thread(loop, "ping");
  guard.reset();
  loop_thread.join();
  CHECK(reply == "you asked: ping");
}

TEST_CASE("awaitable operators on a thread pool: a strand keeps the branches from overlapping") {
  asio::thread_pool pool(4);
  // On a strand, a branch that waits for the other to be running too waits in vain.
  CHECK(lesson017::branches_at_once(pool, true, 100ms) == 1);
  // The broken variant, the same coroutine spawned on the pool itself: the branches run on
  // two threads at once, which is what the strand prevents (the wait ends as soon as both
  // are in; 10 s is only a bound for a badly overloaded machine).
  CHECK(lesson017::branches_at_once(pool, false, 10s) == 2);
  pool.join();
}
