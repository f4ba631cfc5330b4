// Lesson 017: threads and executors.
#include "threads.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>

#include "compat.hpp"

namespace lesson017 {

namespace {
// Records how many handlers are inside their body at the same moment.
class ConcurrencyMeter {
 public:
  void enter() {
    int now = ++inside_;
    int seen = most_;
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --inside_; }
  int most() const { return most_; }

 private:
  std::atomic<int> inside_{0};
  std::atomic<int> most_{0};
};

// Keeps a handler busy for a moment so that overlap, if the executor allows it, happens.
void do_some_work() { std::this_thread::sleep_for(std::chrono::microseconds(50)); }
}  // namespace

HandlerCount count_in_handlers(int threads, int handlers, bool use_strand) {
  asio::io_context context(threads);
  auto strand = asio::make_strand(context);
  ConcurrencyMeter meter;
  long plain_counter = 0;                // only ever touched through the strand
  std::atomic<long> atomic_counter{0};   // for the unserialised run

  for (int i = 0; i < handlers; ++i) {
    if (use_strand) {
      asio::post(strand, [&] {
        meter.enter();
        ++plain_counter;  // safe: the strand runs one handler at a time
        do_some_work();
        meter.leave();
      });
    } else {
      asio::post(context, [&] {
        meter.enter();
        ++atomic_counter;
        do_some_work();
        meter.leave();
      });
    }
  }
  std::vector<std::thread> runners;
  for (int t = 0; t < threads; ++t) runners.emplace_back([&] { context.run(); });
  for (auto& runner : runners) runner.join();
  return {use_strand ? plain_counter : atomic_counter.load(), meter.most()};
}

asio::awaitable<std::vector<int>> receive_from_plain_thread(int count) {
  auto executor = co_await asio::this_coro::executor;
  // Capacity 4: the producer thread blocks when the coroutine falls behind (back-pressure).
  using Channel = asio::experimental::concurrent_channel<void(asio::error_code, int)>;
  Channel numbers(executor, 4);

  std::thread producer([&numbers, count] {
    try {
      for (int i = 1; i <= count; ++i) {
        // A plain thread cannot co_await; it blocks on a future instead.
        numbers.async_send(asio::error_code{}, i, asio::use_future).get();
      }
      // The end is a message, not close(): close() would drop what is still buffered.
      numbers.async_send(asio::error_code{}, 0, asio::use_future).get();
    } catch (const std::exception&) {
      // The receiver went away (see the guard below): stop producing.
    }
  });
  // If this coroutine ends early (cancelled, or an exception), the producer must not block
  // forever on a full channel: close() fails later sends, cancel() fails the pending one
  // (close() alone would leave it hanging). Then the thread can be joined.
  struct StopAndJoin {
    Channel& channel;
    std::thread& thread;
    ~StopAndJoin() {
      channel.close();
      channel.cancel();
      thread.join();
    }
  } stop_and_join{numbers, producer};

  std::vector<int> received;
  for (;;) {
    int n = co_await numbers.async_receive(asio::use_awaitable);
    if (n == 0) break;
    received.push_back(n);
  }
  co_return received;
}

namespace {
asio::awaitable<std::string> answer(std::string question) {
  asio::steady_timer think(co_await asio::this_coro::executor, std::chrono::milliseconds(10));
  co_await think.async_wait(asio::use_awaitable);
  co_return "you asked: " + question;
}
}  // namespace

std::string ask_the_loop_from_a_thread(asio::io_context& loop, std::string question) {
  // co_spawn is thread-safe: it posts the coroutine's start to the loop. use_future hands
  // back a std::future this plain thread may block on (never block like this *on* the loop).
  auto reply = asio::co_spawn(loop, answer(std::move(question)), asio::use_future);
  return reply.get();
}

namespace {
// `shared` is a reference parameter, which is only safe because the parent coroutine that owns
// the vector awaits both branches: it outlives them (lesson 019 shows the unsafe case).
asio::awaitable<void> append_after(std::vector<std::string>& shared, std::string entry,
                                   std::chrono::milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  shared.push_back(std::move(entry));
}

asio::awaitable<std::vector<std::string>> both_branches() {
  using namespace asio::experimental::awaitable_operators;
  std::vector<std::string> shared;
  // Both branches run on this coroutine's executor: the strand. It lets them interleave but
  // never run at the same instant, which is all the unsynchronised vector needs.
  auto first = append_after(shared, "from branch a", std::chrono::milliseconds(5));
  auto second = append_after(shared, "from branch b", std::chrono::milliseconds(10));
  co_await (std::move(first) && std::move(second));
  std::sort(shared.begin(), shared.end());  // which branch finished first is up to the timers
  co_return shared;
}
}  // namespace

std::vector<std::string> join_on_a_strand(asio::thread_pool& pool) {
  return asio::co_spawn(asio::make_strand(pool), both_branches(), asio::use_future).get();
}

}  // namespace lesson017
