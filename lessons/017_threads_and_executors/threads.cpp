// Lesson 017: threads and executors.
#include "threads.hpp"

#include <atomic>
#include <chrono>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/system_executor.hpp>
#include <asio/use_future.hpp>

#include "compat.hpp"

namespace lesson017 {

namespace {
// Records how many handlers are inside their body at the same moment.
class ConcurrencyMeter {
 public:
  void enter() {
    ++entered_;
    int now = ++inside_;
    int seen = most_;
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { --inside_; }
  int most() const { return most_; }
  int inside() const { return inside_; }
  int entered() const { return entered_; }

 private:
  std::atomic<int> entered_{0};
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
  // Capacity 4: the producer thread blocks when the coroutine falls behind (back-pressure).
  using Channel = asio::experimental::concurrent_channel<void(asio::error_code, int)>;
  // The channel's executor is Asio's system executor, not this loop: the producer's sends
  // then complete without the loop. From Asio 1.27 a send's completion goes through the
  // channel's executor (1.22 hands it straight to the future), and the guard below joins the
  // producer on the loop's thread. With the channel on the loop, the producer would block in
  // get() until the loop ran its completion while the loop blocked in join() until the
  // producer ended: a deadlock. Receives still resume this coroutine on its own executor.
  Channel numbers(asio::system_executor(), 4);

  std::thread producer([&numbers, count] {
    try {
      for (int i = 1; i <= count; ++i) {
        // A plain thread cannot co_await; it blocks on a future instead.
        numbers.async_send(asio::error_code{}, i, asio::use_future).get();
      }
      // The end is a message, not close(): before Asio 1.27, close() drops what is still
      // buffered (lesson 019, pitfall 5); a message arrives in order on every release.
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
using Clock = std::chrono::steady_clock;

// One branch: wake at `at`, then stay in the body until the other branch is in its body too,
// or `patience` has passed, or the other branch has already been and gone. Blocking the thread
// is the point here: a second branch can only get in on another thread at the same time.
asio::awaitable<void> branch(ConcurrencyMeter& meter, Clock::time_point at,
                             std::chrono::milliseconds patience) {
  asio::steady_timer timer(co_await asio::this_coro::executor, at);
  co_await timer.async_wait(asio::use_awaitable);
  meter.enter();
  auto give_up = Clock::now() + patience;
  while (meter.inside() < 2 && meter.entered() < 2 && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  meter.leave();
}

// `meter` is a reference parameter, which is only safe because the caller blocks until this
// coroutine has finished: the meter outlives it (lesson 019 shows the unsafe case).
asio::awaitable<void> both_branches(ConcurrencyMeter& meter, std::chrono::milliseconds patience) {
  using namespace asio::experimental::awaitable_operators;
  // Both branches run on this coroutine's executor: a strand, or the bare pool.
  auto at = Clock::now() + std::chrono::milliseconds(5);
  auto first = branch(meter, at, patience);
  auto second = branch(meter, at, patience);
  co_await (std::move(first) && std::move(second));
}
}  // namespace

int branches_at_once(asio::thread_pool& pool, bool use_strand,
                     std::chrono::milliseconds patience) {
  ConcurrencyMeter meter;
  auto coroutine = both_branches(meter, patience);
  if (use_strand)
    asio::co_spawn(asio::make_strand(pool), std::move(coroutine), asio::use_future).get();
  else
    asio::co_spawn(pool, std::move(coroutine), asio::use_future).get();
  return meter.most();
}

}  // namespace lesson017
