#include "gather.hpp"

#include <functional>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "errors.hpp"
#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson003::Fetch;
using lesson003::Journal;
using tut::test::run_within;

namespace {

std::shared_ptr<Journal> quiet_journal() {
  tut::set_logging(false);
  return std::make_shared<Journal>();
}

int position(const Journal& journal, const std::string& event) {
  auto events = journal.events();
  auto found = std::find(events.begin(), events.end(), event);
  return found == events.end() ? -1 : static_cast<int>(found - events.begin());
}

using tut::test::message_of;

asio::awaitable<std::string> throws_at_once() {
  throw std::logic_error("at once");
  co_return "never";
}

// Finishes only when *next_turn reaches `turn`, then passes the turn on: the test decides the
// completion order instead of relying on timers on a loaded machine.
asio::awaitable<std::string> finish_in_turn(std::string name, int turn,
                                            std::shared_ptr<int> next_turn,
                                            std::shared_ptr<std::vector<std::string>> finished) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (*next_turn != turn) {
    poll.expires_after(std::chrono::milliseconds(1));
    co_await poll.async_wait(asio::use_awaitable);
  }
  finished->push_back(name);
  ++*next_turn;
  co_return name;
}

asio::awaitable<int> square_later(int x) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(x % 7));
  co_await timer.async_wait(asio::use_awaitable);
  co_return x * x;
}

}  // namespace

TEST_CASE("&& gives the results in the order written, not the order finished") {
  auto journal = quiet_journal();
  Fetch a{"a", 300ms}, b{"b", 10ms}, c{"c", 100ms};
  auto results = run_within(lesson003::gather_with_and(a, b, c, journal));
  CHECK(results == std::array<std::string, 3>{"a", "b", "c"});
  CHECK(position(*journal, "b: done") < position(*journal, "a: done"));
}

TEST_CASE("&& cancels the other children when one fails") {
  auto journal = quiet_journal();
  Fetch a{"a", 5s}, b{"b", 10ms, true}, c{"c", 5s};
  CHECK_THROWS(run_within(lesson003::gather_with_and(a, b, c, journal)));
  CHECK(journal->saw("b", "failed"));
  CHECK(journal->saw("a", "cancelled"));
  CHECK(journal->saw("c", "cancelled"));
  CHECK(journal->running() == 0);
}

TEST_CASE("a && b && c with b failing throws multiple_exceptions around a's cancellation") {
  auto journal = quiet_journal();
  Fetch a{"a", 5s}, b{"b", 10ms, true}, c{"c", 5s};
  std::exception_ptr error;
  try {
    run_within(lesson003::gather_with_and(a, b, c, journal));
  } catch (...) {
    error = std::current_exception();
  }
  REQUIRE(error);
  CHECK(message_of(error) == "multiple exceptions");
  // (a && b) && c: the outer && keeps the left side's exception, the inner one's, which keeps
  // a's: operation_aborted from being cancelled. "b failed" is in no layer.
  auto found = lesson003::unwrap(error);
  CHECK(found.layers == 2);
  CHECK(tut::is_cancellation(found.innermost));
  CHECK(journal->saw("b", "failed"));
}

TEST_CASE("&& keeps the cause only when the leftmost child is the one that fails") {
  auto journal = quiet_journal();
  Fetch a{"a", 10ms, true}, b{"b", 5s}, c{"c", 5s};
  std::exception_ptr error;
  try {
    run_within(lesson003::gather_with_and(a, b, c, journal));
  } catch (...) {
    error = std::current_exception();
  }
  auto found = lesson003::unwrap(error);
  CHECK(found.layers == 2);
  REQUIRE(found.innermost);
  CHECK(message_of(found.innermost) == "a failed");
}

TEST_CASE("gather keeps the cause that && loses") {
  auto journal = quiet_journal();
  std::vector<Fetch> specs{{"a", 5s}, {"b", 10ms, true}, {"c", 5s}};
  REQUIRE_THROWS_WITH(run_within(lesson003::fetch_all(specs, journal)), "b failed");
  CHECK(journal->saw("a", "cancelled"));
  CHECK(journal->saw("c", "cancelled"));
}

TEST_CASE("unwrap leaves an exception that is not a multiple_exceptions as it is") {
  auto plain = std::make_exception_ptr(std::runtime_error("plain"));
  auto found = lesson003::unwrap(plain);
  CHECK(found.layers == 0);
  CHECK(found.innermost == plain);
  CHECK(lesson003::unwrap(nullptr).innermost == nullptr);
}

TEST_CASE("describe and error_of read an Outcome: value, cancellation or error") {
  lesson003::Outcome<std::string> value{std::in_place_index<0>, "v"};
  lesson003::Outcome<std::string> failed{std::in_place_index<1>,
                                         std::make_exception_ptr(std::runtime_error("broke"))};
  lesson003::Outcome<std::string> cancelled{
      std::in_place_index<1>,
      std::make_exception_ptr(std::system_error(asio::error::operation_aborted))};
  CHECK(lesson003::error_of(value) == nullptr);
  CHECK(lesson003::error_of(failed) != nullptr);
  CHECK(lesson003::describe(value) == "value v");
  CHECK(lesson003::describe(failed) == "error: broke");
  CHECK(lesson003::describe(cancelled) == "cancelled");
}

TEST_CASE("make_parallel_group with wait_for_all reports every outcome and the completion order") {
  auto journal = quiet_journal();
  Fetch a{"a", 300ms}, b{"b", 10ms, true}, c{"c", 100ms};
  auto result = run_within(lesson003::gather_with_group(a, b, c, journal));
  // The completion order the group reports is the order the children really ended in.
  std::vector<std::string> names{"a", "b", "c"}, reported, ended;
  for (auto index : result.completion_order) reported.push_back(names.at(index));
  for (auto& event : journal->events())
    if (!event.ends_with(": started")) ended.push_back(event.substr(0, event.find(':')));
  CHECK(reported == ended);
  CHECK(reported.front() == "b");
  REQUIRE(std::holds_alternative<std::string>(result.outcomes[0]));
  CHECK(std::get<std::string>(result.outcomes[0]) == "a");
  REQUIRE(std::holds_alternative<std::exception_ptr>(result.outcomes[1]));
  CHECK(message_of(std::get<std::exception_ptr>(result.outcomes[1])) == "b failed");
  REQUIRE(std::holds_alternative<std::string>(result.outcomes[2]));
  CHECK(std::get<std::string>(result.outcomes[2]) == "c");
  CHECK_FALSE(journal->saw("a", "cancelled"));  // wait_for_all lets the others finish
}

TEST_CASE("gather returns results in submission order whatever order they finish in") {
  // Children that finish in an order the test imposes (last submitted first), not by timing.
  auto next_turn = std::make_shared<int>(0);
  auto finished = std::make_shared<std::vector<std::string>>();
  std::vector<asio::awaitable<std::string>> children;
  std::vector<std::string> names{"e", "d", "c", "b", "a"};
  for (int i = 0; i < 5; ++i)
    children.push_back(finish_in_turn(names[i], 4 - i, next_turn, finished));
  auto results = run_within(lesson003::gather(std::move(children)));
  CHECK(*finished == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(results == std::vector<std::string>{"e", "d", "c", "b", "a"});
}

TEST_CASE("gather of no children returns an empty vector") {
  std::vector<asio::awaitable<std::string>> none;
  CHECK(run_within(lesson003::gather(std::move(none))).empty());
  std::vector<asio::awaitable<std::string>> none_either;
  CHECK(run_within(lesson003::gather_outcomes(std::move(none_either))).empty());
}

TEST_CASE("gather runs a thousand children concurrently and keeps their order") {
  auto journal = quiet_journal();
  std::vector<Fetch> specs;
  for (int i = 0; i < 1000; ++i)
    specs.push_back({std::to_string(i), std::chrono::milliseconds(1 + (999 - i) % 10)});
  auto results = run_within(lesson003::fetch_all(specs, journal));
  REQUIRE(results.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(results[i] == std::to_string(i));
  auto events = journal->events();
  auto is_done = [](const std::string& event) { return event.ends_with(": done"); };
  auto first_done = std::find_if(events.begin(), events.end(), is_done);
  CHECK(first_done - events.begin() == 1000);  // all 1000 started before any finished
}

TEST_CASE("gather works for any value type") {
  std::vector<asio::awaitable<int>> children;
  for (int i = 0; i < 20; ++i) children.push_back(square_later(i));
  auto squares = run_within(lesson003::gather(std::move(children)));
  REQUIRE(squares.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(squares[i] == i * i);
}

TEST_CASE("the first failure cancels the others, who see it, and is rethrown once all ended") {
  auto journal = quiet_journal();
  auto outcome = run_within([](std::shared_ptr<Journal> j) -> asio::awaitable<std::string> {
    // "late" fails later and comes first in the vector: the first failure *in time* wins.
    std::vector<Fetch> specs{{"late", 2s, true}, {"slow", 5s}, {"early", 10ms, true}};
    try {
      co_await lesson003::fetch_all(specs, j);
    } catch (const std::runtime_error& error) {
      // Checked at the moment gather throws: no child may outlive it.
      co_return std::string(error.what()) + ", running " + std::to_string(j->running());
    }
    co_return "no exception";
  }(journal));
  CHECK(outcome == "early failed, running 0");
  CHECK(journal->saw("late", "cancelled"));
  CHECK(journal->saw("slow", "cancelled"));
  CHECK_FALSE(journal->saw("late", "failed"));
}

TEST_CASE("a child that throws before its first co_await still cancels the others") {
  auto journal = quiet_journal();
  auto run = [](std::shared_ptr<Journal> j) -> asio::awaitable<std::vector<std::string>> {
    std::vector<asio::awaitable<std::string>> children;
    children.push_back(lesson003::fetch({"slow", 5s}, j));
    children.push_back(throws_at_once());
    children.push_back(lesson003::fetch({"slower", 5s}, j));
    co_return co_await lesson003::gather(std::move(children));
  };
  REQUIRE_THROWS_WITH(run_within(run(journal)), "at once");
  CHECK(journal->saw("slow", "cancelled"));
  CHECK(journal->saw("slower", "cancelled"));
  CHECK(journal->running() == 0);
}

TEST_CASE("gather_outcomes keeps every value and exception and cancels nobody") {
  auto journal = quiet_journal();
  auto run = [](std::shared_ptr<Journal> j) -> asio::awaitable<lesson003::Outcome<std::string>> {
    std::vector<asio::awaitable<std::string>> children;
    children.push_back(lesson003::fetch({"x", 30ms}, j));
    children.push_back(lesson003::fetch({"bad", 10ms, true}, j));
    children.push_back(lesson003::fetch({"y", 20ms}, j));
    auto outcomes = co_await lesson003::gather_outcomes(std::move(children));
    CHECK(outcomes.size() == 3);
    CHECK(std::get<std::string>(outcomes.at(0)) == "x");
    CHECK(std::get<std::string>(outcomes.at(2)) == "y");
    co_return outcomes.at(1);
  };
  auto middle = run_within(run(journal));
  REQUIRE(std::holds_alternative<std::exception_ptr>(middle));
  CHECK(message_of(std::get<std::exception_ptr>(middle)) == "bad failed");
  CHECK(journal->saw("x", "done"));
  CHECK(journal->saw("y", "done"));
  CHECK(journal->running() == 0);
}

TEST_CASE("cancelling the gather through a bound slot cancels every child, none outlives it") {
  auto journal = quiet_journal();
  asio::io_context io_context;
  asio::cancellation_signal cancel_gather;
  std::vector<Fetch> specs{{"a", 5s}, {"b", 5s}, {"quick", 1ms}};
  bool completed = false;
  std::exception_ptr error;
  int running_at_completion = -1;
  auto on_done = [&](std::exception_ptr e, std::vector<std::string>) {
    completed = true;
    error = e;
    running_at_completion = journal->running();
  };
  asio::co_spawn(io_context, lesson003::fetch_all(specs, journal),
                 asio::bind_cancellation_slot(cancel_gather.slot(), on_done));
  // Cancel as soon as "quick" has finished (polled, so that no timing is assumed): then
  // "a" and "b" are still waiting, and "quick" has nothing left to cancel.
  asio::steady_timer poll(io_context);
  std::function<void(std::error_code)> cancel_after_quick = [&](std::error_code) {
    if (journal->saw("quick", "done")) return cancel_gather.emit(asio::cancellation_type::terminal);
    poll.expires_after(1ms);
    poll.async_wait(cancel_after_quick);
  };
  poll.expires_after(1ms);
  poll.async_wait(cancel_after_quick);
  auto start = tut::clock::now();
  io_context.run();  // returns only when nothing is left: the 5 s children must be gone
  CHECK(tut::clock::now() - start < 4s);
  REQUIRE(completed);
  CHECK(tut::is_cancellation(error));
  CHECK(running_at_completion == 0);
  CHECK(journal->saw("a", "cancelled"));
  CHECK(journal->saw("b", "cancelled"));
  CHECK(journal->saw("quick", "done"));  // it had finished: nothing to cancel
}

TEST_CASE("gather_outcomes is cancelled like gather") {
  auto journal = quiet_journal();
  asio::io_context io_context;
  asio::cancellation_signal cancel_gather;
  std::vector<asio::awaitable<std::string>> children;
  children.push_back(lesson003::fetch({"a", 5s}, journal));
  children.push_back(lesson003::fetch({"b", 5s}, journal));
  std::exception_ptr error;
  asio::co_spawn(
      io_context, lesson003::gather_outcomes(std::move(children)),
      asio::bind_cancellation_slot(
          cancel_gather.slot(),
          [&](std::exception_ptr e, std::vector<lesson003::Outcome<std::string>>) { error = e; }));
  asio::post(io_context, [&] { cancel_gather.emit(asio::cancellation_type::terminal); });
  io_context.run();
  CHECK(tut::is_cancellation(error));
  CHECK(journal->saw("a", "cancelled"));
  CHECK(journal->saw("b", "cancelled"));
  CHECK(journal->running() == 0);
}

TEST_CASE("a cancelled gather's reset_cancellation_state clears the whole awaiting chain") {
  // run_all() resets the cancellation state when it is cancelled. That state belongs to the
  // whole chain of coroutines since the co_spawn, so the gather's caller is no longer marked
  // cancelled either: it learns of the cancellation only from the operation_aborted thrown.
  struct Seen {
    bool aborted = false;
    bool caller_still_cancelled = true;
    bool next_wait_finished = false;
  };
  auto journal = quiet_journal();
  auto seen = std::make_shared<Seen>();
  auto caller = [](std::shared_ptr<Journal> j, std::shared_ptr<Seen> s) -> asio::awaitable<void> {
    std::vector<Fetch> specs{{"a", 5s}, {"b", 5s}};
    std::exception_ptr error;
    try {
      co_await lesson003::fetch_all(specs, j);
    } catch (...) {
      error = std::current_exception();
    }
    s->aborted = tut::is_cancellation(error);
    auto state = co_await asio::this_coro::cancellation_state;
    s->caller_still_cancelled = state.cancelled() != asio::cancellation_type::none;
    asio::steady_timer timer(co_await asio::this_coro::executor, 1ms);
    co_await timer.async_wait(asio::use_awaitable);  // a cancelled caller would throw here
    s->next_wait_finished = true;
  };
  asio::io_context io_context;
  asio::cancellation_signal cancel;
  std::exception_ptr caller_error;
  asio::co_spawn(io_context, caller(journal, seen),
                 asio::bind_cancellation_slot(cancel.slot(),
                                              [&](std::exception_ptr e) { caller_error = e; }));
  asio::post(io_context, [&] { cancel.emit(asio::cancellation_type::terminal); });
  io_context.run();
  CHECK(seen->aborted);
  CHECK(journal->saw("a", "cancelled"));
  CHECK(journal->saw("b", "cancelled"));
  CHECK_FALSE(seen->caller_still_cancelled);
  CHECK(seen->next_wait_finished);
  CHECK_FALSE(caller_error);
}

TEST_CASE("|| with a timer cancels the gather and all its children") {
  auto journal = quiet_journal();
  std::vector<Fetch> specs{{"quick", 1ms}, {"slow", 5s}, {"slower", 5s}};
  auto start = tut::clock::now();
  auto results = run_within(lesson003::fetch_all_within(specs, 30ms, journal));
  CHECK_FALSE(results.has_value());
  CHECK(tut::clock::now() - start < 4s);
  CHECK(journal->saw("slow", "cancelled"));
  CHECK(journal->saw("slower", "cancelled"));
  CHECK(journal->running() == 0);
}

TEST_CASE("fetch_all_within returns results in time and a failure without waiting") {
  auto journal = quiet_journal();
  std::vector<Fetch> fine{{"a", 20ms}, {"b", 10ms}};
  auto results = run_within(lesson003::fetch_all_within(fine, 5s, journal));
  REQUIRE(results.has_value());
  CHECK(*results == std::vector<std::string>{"a", "b"});

  std::vector<Fetch> failing{{"bad", 10ms, true}, {"slow", 5s}};
  auto start = tut::clock::now();
  REQUIRE_THROWS_WITH(run_within(lesson003::fetch_all_within(failing, 5s, journal)), "bad failed");
  CHECK(tut::clock::now() - start < 4s);  // it did not wait for the 5 s limit
  CHECK(journal->saw("slow", "cancelled"));
}
