// Lesson 017 demo: blocking work off the loop, strands, and crossing between threads and
// coroutines in both directions.
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "log.hpp"
#include "run.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;

namespace {
// Shows that the loop is free: it ticks every 100 ms, three times.
asio::awaitable<void> ticker() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 1; i <= 3; ++i) {
    timer.expires_after(100ms);
    co_await timer.async_wait(asio::use_awaitable);
    tut::log("ticker", "tick {}", i);
  }
}

int slow_blocking_call() {
  std::this_thread::sleep_for(400ms);  // stands for a blocking C library call
  return 42;
}

asio::awaitable<void> offload(asio::thread_pool& pool) {
  tut::reset_clock();  // the demo's time starts here, not when the program (and pool) started
  auto loop_thread = std::this_thread::get_id();
  asio::co_spawn(co_await asio::this_coro::executor, ticker(), tut::rethrow);
  tut::log("main", "to_thread(slow_blocking_call): 0.4s on a pool thread");
  int answer = co_await lesson017::to_thread(pool, slow_blocking_call);
  tut::log("main", "got {}; back on the loop thread: {}", answer,
           std::this_thread::get_id() == loop_thread);
}
}  // namespace

int main() {
  asio::thread_pool pool(2);

  fmt::print("1. asyncio.to_thread: the loop keeps ticking while a pool thread blocks\n");
  tut::run(offload(pool));

  fmt::print("\n2. One io_context, 4 threads, 2000 handlers incrementing a counter\n");
  auto serial = lesson017::count_in_handlers(4, 2000, true);
  fmt::print("   through a strand: counter = {}, at most {} handler at a time\n", serial.total,
             serial.most_at_once);
  auto parallel = lesson017::count_in_handlers(4, 2000, false);
  fmt::print("   without a strand: counter = {} (atomic), up to {} at a time\n", parallel.total,
             parallel.most_at_once);

  fmt::print("\n3. A plain thread feeds a coroutine through a concurrent_channel\n");
  auto numbers = tut::run(lesson017::receive_from_plain_thread(10));
  fmt::print("   received {}\n", numbers);

  fmt::print("\n4. asyncio.run_coroutine_threadsafe: a plain thread asks a loop running elsewhere\n");
  asio::io_context loop;
  auto keep_running = asio::make_work_guard(loop);  // run_forever: no work is not a reason to stop
  std::thread loop_thread([&] { loop.run(); });
  fmt::print("   {}\n", lesson017::ask_the_loop_from_a_thread(loop, "are you there?"));
  keep_running.reset();
  loop_thread.join();

  fmt::print("\n5. `a && b` on a thread pool: two branches that wake together (each waits 0.5s at\n"
             "   most for the other to be running too)\n");
  fmt::print("   spawned on a strand: at most {} branch at a time\n",
             lesson017::branches_at_once(pool, true, 500ms));
  fmt::print("   spawned on the pool: {} branches at once\n",
             lesson017::branches_at_once(pool, false, 500ms));
  pool.join();
}
