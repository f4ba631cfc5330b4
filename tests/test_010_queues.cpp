#include <algorithm>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>

#include "errors.hpp"
#include "log.hpp"
#include "pipeline.hpp"
#include "queue.hpp"
#include "test_support.hpp"
#include "turns.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson010::LifoQueue;
using lesson010::PriorityQueue;
using lesson010::Queue;
using lesson010::QueueEmpty;
using lesson010::QueueFull;
using lesson010::QueueShutDown;
using tut::test::run_within;

namespace {

// Lets every posted step run: each queue operation needs a few hops through the executor.
asio::awaitable<void> settle(int hops = 20) { co_await tut::test::let_others_run(hops); }

// What happened to one background put/get/join.
struct Outcome {
  bool done = false;
  std::optional<int> value;
  std::exception_ptr error;
};

template <typename E>
bool failed_with(const Outcome& outcome) {
  return tut::test::holds<E>(outcome.error);
}

bool was_cancelled(const Outcome& outcome) { return tut::is_cancellation(outcome.error); }

// Background tasks that record their outcome instead of throwing. The queue is passed by
// pointer: every test keeps it alive (or destroys it on purpose) while they run.
template <typename Q>
asio::awaitable<void> getter(Q* queue, std::shared_ptr<Outcome> out) {
  try {
    out->value = co_await queue->get();
  } catch (...) {
    out->error = std::current_exception();
  }
  out->done = true;
}

template <typename Q>
asio::awaitable<void> putter(Q* queue, int item, std::shared_ptr<Outcome> out) {
  try {
    co_await queue->put(item);
  } catch (...) {
    out->error = std::current_exception();
  }
  out->done = true;
}

template <typename Q>
asio::awaitable<void> joiner(Q* queue, std::shared_ptr<Outcome> out) {
  try {
    co_await queue->join();
  } catch (...) {
    out->error = std::current_exception();
  }
  out->done = true;
}

// Starts `task` in the background; `signal` (if given) can cancel it.
asio::awaitable<void> spawn(asio::awaitable<void> task,
                            asio::cancellation_signal* signal = nullptr) {
  auto executor = co_await asio::this_coro::executor;
  if (signal)
    asio::co_spawn(executor, std::move(task),
                   asio::bind_cancellation_slot(signal->slot(), tut::rethrow));
  else
    asio::co_spawn(executor, std::move(task), tut::rethrow);
}

std::shared_ptr<Outcome> outcome() { return std::make_shared<Outcome>(); }

template <typename Q>
std::vector<int> drain(Q& queue) {
  std::vector<int> items;
  while (!queue.empty()) items.push_back(queue.try_get());
  return items;
}

}  // namespace

TEST_CASE("Queue is first in first out, LifoQueue last in first out, PriorityQueue lowest first") {
  tut::set_logging(false);
  auto orders = run_within([]() -> asio::awaitable<std::vector<std::vector<int>>> {
    Queue<int> fifo;
    LifoQueue<int> lifo;
    PriorityQueue<int> lowest;
    const std::vector<int> items{3, 1, 4, 1, 5};
    for (int item : items) {
      co_await fifo.put(item);
      co_await lifo.put(item);
      co_await lowest.put(item);
    }
    std::vector<std::vector<int>> got(3);
    for (int i = 0; i < 5; ++i) {
      got[0].push_back(co_await fifo.get());
      got[1].push_back(co_await lifo.get());
      got[2].push_back(co_await lowest.get());
    }
    co_return got;
  }());
  CHECK(orders[0] == std::vector<int>{3, 1, 4, 1, 5});
  CHECK(orders[1] == std::vector<int>{5, 1, 4, 1, 3});
  CHECK(orders[2] == std::vector<int>{1, 1, 3, 4, 5});
}

TEST_CASE("PriorityQueue orders (priority, data) pairs like asyncio's tuples") {
  PriorityQueue<std::pair<int, std::string>> queue;
  queue.try_put({2, "write"});
  queue.try_put({0, "urgent"});
  queue.try_put({1, "read"});
  queue.try_put({1, "alpha"});
  CHECK(queue.try_get() == std::pair<int, std::string>{0, "urgent"});
  CHECK(queue.try_get() == std::pair<int, std::string>{1, "alpha"});
  CHECK(queue.try_get() == std::pair<int, std::string>{1, "read"});
  CHECK(queue.try_get() == std::pair<int, std::string>{2, "write"});
}

namespace {
struct NoDefault {  // an item type without a default constructor
  explicit NoDefault(int v) : value(v) {}
  int value;
};
}  // namespace

TEST_CASE("the item type need not be default-constructible") {
  auto got = run_within([]() -> asio::awaitable<int> {
    Queue<NoDefault> queue{1};
    co_await queue.put(NoDefault(4));
    NoDefault item = co_await queue.get();
    co_return item.value;
  }());
  CHECK(got == 4);
}

TEST_CASE("maxsize 0 is unbounded: put never waits and full() is never true") {
  Queue<int> queue;
  CHECK(queue.maxsize() == 0);
  for (int i = 0; i < 10000; ++i) queue.try_put(i);
  CHECK(queue.size() == 10000);
  CHECK_FALSE(queue.full());
  auto filled = run_within([](Queue<int>* q) -> asio::awaitable<std::size_t> {
    for (int i = 0; i < 100; ++i) co_await q->put(i);  // would hang if put() waited
    co_return q->size();
  }(&queue));
  CHECK(filled == 10100);
}

TEST_CASE("size, empty and full follow the items, try_get and try_put fail at once") {
  Queue<int> queue{2};
  CHECK(queue.maxsize() == 2);
  CHECK(queue.empty());
  CHECK_FALSE(queue.full());
  REQUIRE_THROWS_AS(queue.try_get(), QueueEmpty);
  queue.try_put(1);
  CHECK(queue.size() == 1);
  CHECK_FALSE(queue.empty());
  queue.try_put(2);
  CHECK(queue.full());
  REQUIRE_THROWS_AS(queue.try_put(3), QueueFull);
  CHECK(queue.size() == 2);  // the failed put changed nothing
  CHECK(queue.try_get() == 1);
  CHECK_FALSE(queue.full());
}

TEST_CASE("get() waits while the queue is empty and returns the item put later") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue;
    auto got = outcome();
    co_await spawn(getter(&queue, got));
    co_await settle();
    CHECK_FALSE(got->done);  // nothing to get yet
    queue.try_put(7);
    co_await settle();
    CHECK(got->done);
    CHECK(got->value == 7);
    CHECK(queue.empty());
  }());
}

TEST_CASE("put() waits while the queue is full: back-pressure keeps the order") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue{2};
    auto put_count = std::make_shared<int>(0);
    auto producer = [](Queue<int>* q, std::shared_ptr<int> count) -> asio::awaitable<void> {
      for (int i = 0; i < 5; ++i) {
        co_await q->put(i);
        ++*count;
      }
    };
    co_await spawn(producer(&queue, put_count));
    co_await settle();
    CHECK(*put_count == 2);  // the third put() waits for a free slot
    CHECK(queue.size() == 2);
    std::vector<int> got;
    got.push_back(queue.try_get());
    co_await settle();
    CHECK(*put_count == 3);  // one slot freed, one more put went through
    CHECK(queue.full());
    for (int i = 0; i < 4; ++i) got.push_back(co_await queue.get());
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(*put_count == 5);
  }());
}

TEST_CASE("a notifier never runs the woken task inside its own call") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue{1};
    auto got = outcome();
    co_await spawn(getter(&queue, got));
    co_await settle();
    queue.try_put(1);
    CHECK_FALSE(got->done);  // woken, not run: it runs when the executor gets to it
    co_await settle();
    CHECK(got->value == 1);

    auto got_again = outcome();
    co_await spawn(getter(&queue, got_again));
    co_await settle();
    co_await queue.put(2);  // put() completed: the getter it woke has still not run
    CHECK_FALSE(got_again->done);
    co_await settle();
    CHECK(got_again->value == 2);

    // The same for a putter woken by a get.
    queue.try_put(3);
    auto put = outcome();
    co_await spawn(putter(&queue, 4, put));
    co_await settle();
    CHECK_FALSE(put->done);
    int first_item = co_await queue.get();  // never co_await inside CHECK: g++ 12 runs it twice
    CHECK(first_item == 3);
    CHECK_FALSE(put->done);
    co_await settle();
    CHECK(put->done);
    CHECK(queue.try_get() == 4);
  }());
}

TEST_CASE("join() waits for task_done() of every item, and one too many is an error") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue;
    co_await queue.join();  // nothing unfinished: returns at once
    for (int i = 0; i < 3; ++i) co_await queue.put(i);
    auto first = outcome();
    auto second = outcome();
    co_await spawn(joiner(&queue, first));
    co_await spawn(joiner(&queue, second));
    for (int i = 0; i < 3; ++i) {
      co_await queue.get();
      co_await settle();
      CHECK_FALSE(first->done);  // taken is not done: join() counts task_done() calls
      queue.task_done();
    }
    co_await settle();
    CHECK(first->done);
    CHECK(second->done);
    CHECK_FALSE(first->error);
    CHECK_THROWS_AS(queue.task_done(), std::logic_error);
    co_await queue.join();
  }());
}

TEST_CASE("shutdown(): put fails, blocked putters fail, getters drain the queue then fail") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue{2};
    queue.try_put(1);
    queue.try_put(2);
    auto blocked1 = outcome();
    auto blocked2 = outcome();
    co_await spawn(putter(&queue, 3, blocked1));
    co_await spawn(putter(&queue, 4, blocked2));
    co_await settle();
    CHECK_FALSE(blocked1->done);

    queue.shutdown();
    CHECK(queue.is_shut_down());
    co_await settle();
    CHECK(failed_with<QueueShutDown>(*blocked1));
    CHECK(failed_with<QueueShutDown>(*blocked2));
    CHECK(queue.size() == 2);                                // their items never went in
    CHECK_THROWS_AS(queue.try_put(5), QueueShutDown);  // shut down wins over "full"
    CHECK(queue.try_get() == 1);
    CHECK_THROWS_AS(queue.try_put(5), QueueShutDown);  // not full now: still shut down
    auto late_put = outcome();
    co_await putter(&queue, 6, late_put);
    CHECK(failed_with<QueueShutDown>(*late_put));

    int queued = co_await queue.get();  // what was queued is still handed out
    CHECK(queued == 2);
    auto late_get = outcome();
    co_await getter(&queue, late_get);
    CHECK(failed_with<QueueShutDown>(*late_get));
    CHECK_THROWS_AS(queue.try_get(), QueueShutDown);  // not QueueEmpty
    queue.shutdown();                                 // again: harmless

    queue.task_done();
    queue.task_done();
    co_await queue.join();  // the two items that were put are done
  }());
}

TEST_CASE("shutdown() wakes getters blocked on an empty queue with QueueShutDown") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue;
    std::vector<std::shared_ptr<Outcome>> getters;
    for (int i = 0; i < 3; ++i) {
      getters.push_back(outcome());
      co_await spawn(getter(&queue, getters.back()));
    }
    co_await settle();
    queue.shutdown();
    for (auto& got : getters) CHECK_FALSE(got->done);  // woken, not run inside shutdown()
    co_await settle();
    for (auto& got : getters) CHECK(failed_with<QueueShutDown>(*got));
  }());
}

TEST_CASE("shutdown(true) drops the items, counts them done, and wakes every waiter") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue{2};
    co_await queue.put(1);
    co_await queue.get();  // item 1 is being processed: it stays unfinished
    co_await queue.put(2);
    co_await queue.put(3);
    auto blocked_put = outcome();
    auto join = outcome();
    co_await spawn(putter(&queue, 4, blocked_put));
    co_await spawn(joiner(&queue, join));
    co_await settle();

    queue.shutdown(true);
    CHECK(queue.empty());
    co_await settle();
    CHECK(failed_with<QueueShutDown>(*blocked_put));
    CHECK_FALSE(join->done);  // items 2 and 3 count as done, item 1 does not yet
    queue.task_done();        // item 1 finished
    co_await settle();
    CHECK(join->done);
    CHECK_FALSE(join->error);
    CHECK_THROWS_AS(queue.try_get(), QueueShutDown);
  }());

  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue;
    auto blocked_get = outcome();
    co_await spawn(getter(&queue, blocked_get));
    co_await settle();
    queue.shutdown(true);
    co_await settle();
    CHECK(failed_with<QueueShutDown>(*blocked_get));

    Queue<int> full_of_work;
    full_of_work.try_put(1);
    full_of_work.try_put(2);
    auto join = outcome();
    co_await spawn(joiner(&full_of_work, join));
    co_await settle();
    CHECK_FALSE(join->done);
    full_of_work.shutdown(true);  // nothing in progress: the count drops to zero
    co_await settle();
    CHECK(join->done);
    CHECK_FALSE(join->error);
  }());
}

TEST_CASE("a cancelled getter leaves the wait list and the next item goes to the next getter") {
  run_within([]() -> asio::awaitable<void> {
    asio::cancellation_signal cancel_first;  // declared before the queue: outlives its waiters
    Queue<int> queue;
    auto first = outcome();
    auto second = outcome();
    co_await spawn(getter(&queue, first), &cancel_first);
    co_await spawn(getter(&queue, second));
    co_await settle();
    cancel_first.emit(asio::cancellation_type::terminal);
    co_await settle();
    CHECK(was_cancelled(*first));
    queue.try_put(7);
    co_await settle();
    CHECK(second->value == 7);
    CHECK(queue.empty());
  }());
}

TEST_CASE("a cancelled putter leaves the wait list without putting its item") {
  run_within([]() -> asio::awaitable<void> {
    asio::cancellation_signal cancel_first;
    Queue<int> queue{1};
    queue.try_put(1);
    auto first = outcome();
    auto second = outcome();
    co_await spawn(putter(&queue, 2, first), &cancel_first);
    co_await spawn(putter(&queue, 3, second));
    co_await settle();
    cancel_first.emit(asio::cancellation_type::terminal);
    co_await settle();
    CHECK(was_cancelled(*first));
    CHECK(queue.try_get() == 1);
    co_await settle();
    CHECK(second->done);
    CHECK(drain(queue) == std::vector<int>{3});  // 2 never went in
  }());
}

TEST_CASE("a getter woken and cancelled in the same moment does not lose the item") {
  run_within([]() -> asio::awaitable<void> {
    asio::cancellation_signal cancel_first;
    Queue<int> queue;
    auto first = outcome();
    auto second = outcome();
    co_await spawn(getter(&queue, first), &cancel_first);
    co_await spawn(getter(&queue, second));
    co_await settle();
    queue.try_put(42);                                     // wakes the first getter...
    cancel_first.emit(asio::cancellation_type::terminal);  // ...which is cancelled before it runs
    co_await settle();
    CHECK(was_cancelled(*first));
    CHECK_FALSE(first->value.has_value());
    CHECK(second->value == 42);  // the wake-up was passed on
  }());

  run_within([]() -> asio::awaitable<void> {
    asio::cancellation_signal cancel_only;
    Queue<int> queue;
    auto only = outcome();
    co_await spawn(getter(&queue, only), &cancel_only);
    co_await settle();
    queue.try_put(42);
    cancel_only.emit(asio::cancellation_type::terminal);
    co_await settle();
    CHECK(was_cancelled(*only));
    CHECK(queue.size() == 1);  // nobody else waits: the item stays queued
    int item = co_await queue.get();
    CHECK(item == 42);
  }());
}

TEST_CASE("a putter woken and cancelled in the same moment passes the free slot on") {
  run_within([]() -> asio::awaitable<void> {
    asio::cancellation_signal cancel_first;
    Queue<int> queue{1};
    queue.try_put(0);
    auto first = outcome();
    auto second = outcome();
    co_await spawn(putter(&queue, 1, first), &cancel_first);
    co_await spawn(putter(&queue, 2, second));
    co_await settle();
    CHECK(queue.try_get() == 0);                           // wakes the first putter...
    cancel_first.emit(asio::cancellation_type::terminal);  // ...cancelled before it runs
    co_await settle();
    CHECK(was_cancelled(*first));
    CHECK(second->done);
    CHECK_FALSE(second->error);
    CHECK(drain(queue) == std::vector<int>{2});
  }());
}

TEST_CASE("a woken getter that finds its item taken waits again") {
  run_within([]() -> asio::awaitable<void> {
    Queue<int> queue;
    auto got = outcome();
    co_await spawn(getter(&queue, got));
    co_await settle();
    queue.try_put(1);            // wakes the getter...
    CHECK(queue.try_get() == 1);  // ...but this takes the item first
    co_await settle();
    CHECK_FALSE(got->done);  // no error, no phantom item: it waits again
    queue.try_put(2);
    co_await settle();
    CHECK(got->value == 2);
  }());
}

TEST_CASE("get() || timer: the timer wins and nothing is taken, put() || timer puts nothing") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Queue<int> queue{1};
    asio::steady_timer timer(executor, 20ms);
    auto get_race = queue.get() || timer.async_wait(asio::use_awaitable);
    auto got = co_await std::move(get_race);
    CHECK(got.index() == 1);
    queue.try_put(5);
    co_await settle();
    CHECK(queue.size() == 1);  // no cancelled getter swallowed it

    timer.expires_after(20ms);
    auto put_race = queue.put(6) || timer.async_wait(asio::use_awaitable);
    auto put = co_await std::move(put_race);
    CHECK(put.index() == 1);
    co_await settle();
    CHECK(drain(queue) == std::vector<int>{5});  // 6 was never put

    // A join() can be cancelled too, and leaves nothing behind.
    co_await queue.put(7);
    timer.expires_after(10ms);
    auto join_race = queue.join() || timer.async_wait(asio::use_awaitable);
    auto joined = co_await std::move(join_race);
    CHECK(joined.index() == 1);
    co_await queue.get();
    queue.task_done();
    queue.task_done();
    co_await queue.join();
  }());
}

TEST_CASE("destroying a queue wakes its waiters with QueueShutDown") {
  run_within([]() -> asio::awaitable<void> {
    auto queue = std::make_unique<Queue<int>>(1);
    queue->try_put(1);
    auto got = outcome();
    auto put = outcome();
    auto join = outcome();
    auto empty = std::make_unique<Queue<int>>();
    co_await spawn(getter(empty.get(), got));
    co_await spawn(putter(queue.get(), 2, put));
    co_await spawn(joiner(queue.get(), join));
    auto busy = std::make_unique<Queue<int>>();
    busy->try_put(1);
    busy->try_get();  // taken, never marked done
    auto busy_join = outcome();
    co_await spawn(joiner(busy.get(), busy_join));
    co_await settle();
    empty.reset();
    queue.reset();
    busy.reset();
    co_await settle();
    CHECK(failed_with<QueueShutDown>(*got));
    CHECK(failed_with<QueueShutDown>(*put));
    CHECK(join->done);  // dropping item 1 counted it done: nothing unfinished remains
    CHECK_FALSE(join->error);
    CHECK(failed_with<QueueShutDown>(*busy_join));  // no task_done() can ever come now
  }());
}

namespace {

// The classic trap: a receive raced with a timer, over and over, under load. Every item put
// must be received exactly once. Producers also race their puts with timers.
struct RaceResult {
  std::vector<int> received;  // how often each item was received
  int timer_wins = 0;         // races a timer won (so the races really happened)
};

asio::awaitable<RaceResult> race_everything(int items, int consumers) {
  Queue<int> queue{4};
  std::vector<int> received(items, 0);
  auto timer_wins = std::make_shared<int>(0);

  auto produce = [](Queue<int>* q, int n, std::shared_ptr<int> wins) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    std::minstd_rand rng(7);
    for (int i = 0; i < n; ++i) {
      for (;;) {  // a put cancelled by its timer did not put: retry the same item
        if (rng() % 3 == 0) {
          timer.expires_after(std::chrono::microseconds(rng() % 300));
          auto race = q->put(i) || timer.async_wait(asio::use_awaitable);
          auto result = co_await std::move(race);
          if (result.index() == 0) break;
          ++*wins;
        } else {
          co_await q->put(i);
          break;
        }
      }
    }
    co_await q->join();  // every item received and marked done
    q->shutdown();
  };

  auto consume = [](Queue<int>* q, std::vector<int>* got, std::shared_ptr<int> wins,
                    unsigned seed) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    std::minstd_rand rng(seed);
    while (!(q->is_shut_down() && q->empty())) {
      timer.expires_after(std::chrono::microseconds(rng() % 500));
      auto race = q->get() || timer.async_wait(asio::use_awaitable);
      auto result = co_await std::move(race);
      if (result.index() == 0) {
        ++(*got)[std::get<0>(result)];
        q->task_done();
      } else {
        ++*wins;  // the timer won (or the queue shut down): the get took nothing
      }
    }
  };

  asio::awaitable<void> everyone = produce(&queue, items, timer_wins);
  for (int c = 0; c < consumers; ++c)
    everyone = std::move(everyone) && consume(&queue, &received, timer_wins, 100u + c);
  co_await std::move(everyone);
  co_return RaceResult{std::move(received), *timer_wins};
}

}  // namespace

TEST_CASE("get() || timer under load never loses or duplicates an item (one thread)") {
  auto result = run_within(race_everything(2000, 3), std::chrono::seconds(30));
  std::vector<int> once(2000, 1);
  CHECK(result.received == once);
  CHECK(result.timer_wins > 0);
}

TEST_CASE("get() || timer on a strand of a 2-thread io_context: every item exactly once") {
  asio::io_context context;
  auto strand = asio::make_strand(context);
  auto result = asio::co_spawn(strand, race_everything(1000, 3), asio::use_future);
  std::thread helper([&] { context.run_for(std::chrono::seconds(30)); });
  context.run_for(std::chrono::seconds(30));
  helper.join();
  REQUIRE(result.wait_for(0s) == std::future_status::ready);
  auto race = result.get();
  std::vector<int> once(1000, 1);
  CHECK(race.received == once);
  CHECK(race.timer_wins > 0);
}

TEST_CASE("the pipeline: back-pressure, every job done once, idle workers leave on shutdown") {
  tut::set_logging(false);
  std::vector<lesson010::Worker> workers{{"fast", 10ms}, {"slow", 30ms}};
  auto report = run_within(lesson010::run_pipeline(2, 8, std::move(workers)));
  std::vector<std::string> all;
  for (auto& jobs : report.done) all.insert(all.end(), jobs.begin(), jobs.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::string>{"job-1", "job-2", "job-3", "job-4", "job-5", "job-6",
                                        "job-7", "job-8"});
  CHECK(report.blocked_puts > 0);  // the producer had to wait for the workers
  CHECK(report.most_queued == 2);  // and never got ahead by more than maxsize
}

TEST_CASE("a worker that throws: run_pipeline cancels join() and rethrows, it does not hang") {
  tut::set_logging(false);
  std::vector<lesson010::Worker> workers{{"fast", 10ms}, {"slow", 30ms}};
  std::string error;
  try {
    run_within(lesson010::run_pipeline(2, 4, std::move(workers), "job-2"));
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error == "slow failed on job-2");  // job-1 went to "fast", job-2 to "slow"
}

namespace {
// A worker in asyncio's docs style: takes one item and throws before task_done().
asio::awaitable<void> take_one_and_fail(Queue<int>* queue) {
  co_await queue->get();
  throw std::runtime_error("worker failed");
}
}  // namespace

TEST_CASE("join() waits for ever for an item taken by a worker that threw before task_done") {
  run_within([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Queue<int> queue;
    queue.try_put(1);
    std::exception_ptr worker_error;
    asio::co_spawn(executor, take_one_and_fail(&queue),
                   [&worker_error](std::exception_ptr e) { worker_error = e; });
    asio::steady_timer timer(executor, 50ms);
    auto join_or_timer = queue.join() || timer.async_wait(asio::use_awaitable);
    auto first = co_await std::move(join_or_timer);
    CHECK(first.index() == 1);  // the timer won: join() was still waiting
    CHECK(worker_error);        // the worker had died with its exception
    CHECK(queue.empty());       // the item was taken, so only task_done() can end join()
    queue.task_done();          // what a worker calling task_done() on every path does
    co_await queue.join();      // now it returns
  }());
}

TEST_CASE("asio::experimental::channel: every job received once, in order, with back-pressure") {
  tut::set_logging(false);
  auto report = run_within(lesson010::run_channel(1, 5, 5ms));
  CHECK(report.done.at(0) ==
        std::vector<std::string>{"job-1", "job-2", "job-3", "job-4", "job-5"});
  CHECK(report.blocked_puts > 0);  // a channel of 1 cannot take 5 jobs without waiting

  report = run_within(lesson010::run_channel(5, 5, 5ms));  // room for every job
  CHECK(report.done.at(0).size() == 5);
  CHECK(report.blocked_puts == 0);
}

// ---- the steady_timer rule: destroying the queue, or the io_context, while tasks wait ----

namespace {

using tut::test::SetsFlagWhenDestroyed;  // proves a waiting frame was destroyed

asio::awaitable<void> get_forever(std::shared_ptr<Queue<int>> queue, bool* destroyed) {
  SetsFlagWhenDestroyed flag{destroyed};
  co_await queue->get();  // nobody puts: waits until the io_context is destroyed
}

}  // namespace

TEST_CASE("a queue destroyed after put() but before the woken getter ran fails that get") {
  run_within([]() -> asio::awaitable<void> {
    auto queue = std::make_unique<Queue<int>>();
    auto outcome = std::make_shared<Outcome>();
    asio::co_spawn(co_await asio::this_coro::executor, getter(queue.get(), outcome),
                   tut::rethrow);
    co_await settle();  // the getter waits
    queue->try_put(1);  // wakes it: its retry is posted, not run
    queue.reset();      // destroyed with the item in it: shutdown(true) drops it
    while (!outcome->done) co_await settle(1);
    CHECK(failed_with<QueueShutDown>(*outcome));
  }());
}

TEST_CASE("destroying the io_context while a task waits on a queue destroys the task's frame") {
  bool destroyed = false;
  {
    asio::io_context context;
    asio::co_spawn(context, get_forever(std::make_shared<Queue<int>>(), &destroyed),
                   tut::rethrow);
    context.poll();  // runs the task until it waits
    REQUIRE_FALSE(destroyed);
  }  // as for a coroutine waiting on a steady_timer: its frame is destroyed, nothing leaks
  CHECK(destroyed);
}
