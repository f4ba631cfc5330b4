#include "task_group.hpp"

#include <algorithm>
#include <csignal>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "sleep.hpp"
#include "job_service.hpp"
#include "shutdown.hpp"
#include "program.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace lesson022;
using tut::test::run_within;
using Journal = std::shared_ptr<std::vector<std::string>>;

namespace {

Journal make_journal() {
  tut::set_logging(false);
  return std::make_shared<std::vector<std::string>>();
}

bool has(const Journal& journal, const std::string& event) {
  return std::find(journal->begin(), journal->end(), event) != journal->end();
}

// Position of `event` in the journal (its size if absent, so a missing event fails a `<`).
std::size_t at(const Journal& journal, const std::string& event) {
  return std::find(journal->begin(), journal->end(), event) - journal->begin();
}

// Polls `condition` every millisecond: orders a test step after a state change of the code
// under test, whatever the machine's speed.
asio::awaitable<void> wait_until(std::function<bool()> condition) {
  while (!condition()) co_await tut::sleep(1ms);
}

// Sleeps `delay` (default: longer than any test) and returns `value`; journals
// "<name> started", "<name> done" or "<name> cancelled" and rethrows the cancellation.
asio::awaitable<int> sleeper(std::string name, Journal journal,
                             std::chrono::milliseconds delay = 60s, int value = 1) {
  journal->push_back(name + " started");
  try {
    co_await tut::sleep(delay);
  } catch (const std::system_error&) {
    journal->push_back(name + " cancelled");
    throw;
  }
  journal->push_back(name + " done");
  co_return value;
}

asio::awaitable<void> sleeper_void(std::string name, Journal journal,
                                   std::chrono::milliseconds delay = 60s) {
  co_await sleeper(name, journal, delay);
}

// Waits for `gate`, then throws std::invalid_argument(name).
asio::awaitable<void> fail_after(std::string name, Stop gate, Journal journal) {
  co_await gate.wait();
  journal->push_back(name + " fails");
  throw std::invalid_argument(name);
}

// Waits until cancelled, then cleans up: awaits `gate` (its cancellation state reset first,
// lesson 005), journals, and either rethrows the cancellation or fails with runtime_error.
// `opens`, if given, is requested at the start of the cleanup.
asio::awaitable<void> slow_cleanup(std::string name, Stop gate, bool fail_in_cleanup,
                                   Journal journal, std::optional<Stop> opens = {}) {
  bool cancelled = false;
  try {
    co_await tut::sleep(60s);
  } catch (const std::system_error&) {
    cancelled = true;
  }
  REQUIRE(cancelled);
  journal->push_back(name + " cleanup started");
  co_await asio::this_coro::reset_cancellation_state();
  if (opens) opens->request();
  co_await gate.wait();
  if (fail_in_cleanup) {
    journal->push_back(name + " cleanup fails");
    throw std::runtime_error(name + " cleanup");
  }
  journal->push_back(name + " cleaned up");
  throw std::system_error(asio::error::operation_aborted);
}

std::vector<std::string> names(std::exception_ptr error);

// Runs `test` and returns the ExceptionGroup it threw (null if it threw none; any other
// exception goes on to fail the test).
template <typename T>
std::exception_ptr group_error_of(asio::awaitable<T> test) {
  try {
    run_within(std::move(test));
  } catch (const ExceptionGroup&) {
    return std::current_exception();
  }
  return nullptr;
}

// A plain exception's what(); a group as "group[...]".
std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ExceptionGroup&) {
    std::string joined;
    for (auto& name : names(error)) joined += (joined.empty() ? "" : ",") + name;
    return "group[" + joined + "]";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// What an ExceptionGroup holds, in order, each sub-exception describe()d; a plain
// exception: its what() alone.
std::vector<std::string> names(std::exception_ptr error) {
  std::vector<std::string> found;
  try {
    std::rethrow_exception(error);
  } catch (const ExceptionGroup& group) {
    for (auto& inner : group.exceptions()) found.push_back(describe(inner));
  } catch (const std::exception& e) {
    found.push_back(e.what());
  }
  return found;
}

// Runs `parent` as a task of its own whose cancellation `signal` controls.
struct Parent {
  asio::cancellation_signal signal;
  bool done = false;
  std::exception_ptr error;
};

void start(asio::awaitable<void> parent, Parent& state, asio::any_io_executor executor) {
  asio::co_spawn(executor, std::move(parent),
                 asio::bind_cancellation_slot(state.signal.slot(), [&state](std::exception_ptr e) {
                   state.done = true;
                   state.error = e;
                 }));
}

}  // namespace

// ------------------------------------------------------------------------------- waiting

TEST_CASE("the group waits for every child, also one a child spawns after the body returned") {
  auto journal = make_journal();
  auto spawner = [](TaskGroup group, Journal notes) -> asio::awaitable<void> {
    co_await tut::sleep(10ms);
    group.spawn(sleeper("c", notes, 20ms));  // the body has returned by now
    notes->push_back("b spawned c");
  };
  auto test = [&]() -> asio::awaitable<void> {
    auto body = [journal, spawner](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(sleeper("a", journal, 20ms));
      group.spawn(spawner(group, journal));
      journal->push_back("body returned");
      co_return;
    };
    co_await with_task_group(std::move(body));
    journal->push_back("group ended");
  };
  run_within(test());
  CHECK(at(journal, "body returned") < at(journal, "b spawned c"));
  CHECK(at(journal, "a done") < at(journal, "group ended"));
  CHECK(at(journal, "c done") < at(journal, "group ended"));
  CHECK(journal->back() == "group ended");
}

TEST_CASE("with_task_group returns the body's value, Child::result() each child's") {
  auto journal = make_journal();
  auto child = std::make_shared<std::optional<Child<int>>>();
  auto test = [&]() -> asio::awaitable<int> {
    auto body = [journal, child](TaskGroup group) -> asio::awaitable<int> {
      *child = group.spawn(sleeper("a", journal, 10ms, 7));
      CHECK_THROWS_AS((*child)->result(), std::logic_error);  // still running
      co_return 42;
    };
    co_return co_await with_task_group(std::move(body));
  };
  int value = run_within(test());
  CHECK(value == 42);
  REQUIRE(child->has_value());
  CHECK((*child)->done());
  CHECK_FALSE((*child)->cancelled());
  CHECK((*child)->result() == 7);
  CHECK_FALSE((*child)->cancel());  // done: nothing to cancel
}

// ------------------------------------------------------------------------------ failures

TEST_CASE("the first failure cancels the siblings and the body, then is thrown in a group") {
  auto journal = make_journal();
  auto refused = std::make_shared<std::string>();
  auto test = [&]() -> asio::awaitable<void> {
    Stop gate(co_await asio::this_coro::executor);
    auto body = [journal, gate, refused](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(sleeper("sibling", journal));
      group.spawn(fail_after("bad", gate, journal));
      gate.request();
      bool cancelled = false;
      try {
        co_await tut::sleep(60s);
      } catch (const std::system_error&) {
        cancelled = true;
      }
      journal->push_back(cancelled ? "body cancelled" : "body slept");
      try {
        group.spawn(sleeper("late", journal));  // asyncio: RuntimeError; here a cancellation
      } catch (const std::system_error& e) {
        if (e.code() == asio::error::operation_aborted) *refused = e.what();
      }
      throw std::system_error(asio::error::operation_aborted);
    };
    co_await with_task_group(std::move(body));
  };
  std::exception_ptr error;
  try {
    run_within(test());
  } catch (const ExceptionGroup& group) {
    CHECK(std::string(group.what()) == "unhandled errors in a TaskGroup (1 sub-exception)");
    CHECK(group.message() == "unhandled errors in a TaskGroup");
    error = std::current_exception();
  }
  REQUIRE(error);
  CHECK(names(error) == std::vector<std::string>{"bad"});
  CHECK(has(journal, "sibling cancelled"));
  CHECK(has(journal, "body cancelled"));
  CHECK_THAT(*refused, tut::test::ContainsSubstring("TaskGroup is shutting down"));
  CHECK_FALSE(has(journal, "late started"));
}

TEST_CASE("two simultaneous failures are both reported, in the order they happened") {
  auto journal = make_journal();
  // Resumes on the next turn, then fails. A post() cannot be cancelled: q, already resuming
  // when p's failure cancels it, still fails. (A Stop's wait() would end cancelled then, as
  // asyncio's Event.wait() does: a cancellation that comes before the task runs wins.)
  auto fail_next_turn = [](std::string name, Journal notes) -> asio::awaitable<void> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    notes->push_back(name + " fails");
    throw std::invalid_argument(name);
  };
  auto test = [&]() -> asio::awaitable<void> {
    auto body = [journal, fail_next_turn](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(fail_next_turn("p", journal));
      group.spawn(fail_next_turn("q", journal));  // p and q fail in the same turn of the loop
      group.spawn(sleeper("sibling", journal));
      co_return;
    };
    co_await with_task_group(std::move(body));
  };
  auto error = group_error_of(test());
  REQUIRE(error);
  CHECK(names(error) == std::vector<std::string>{"p", "q"});
  CHECK(has(journal, "sibling cancelled"));
}

TEST_CASE("a failure while another child is in its cleanup: reported, and the cleanup awaited") {
  auto journal = make_journal();
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Stop fail_now(executor), a_may_finish(executor), c_may_fail(executor);
    auto body = [=](TaskGroup group) -> asio::awaitable<void> {
      // a's cleanup starts, lets c's cleanup go on, and waits until c has failed.
      group.spawn(slow_cleanup("a", a_may_finish, false, journal, c_may_fail));
      group.spawn(slow_cleanup("c", c_may_fail, true, journal, {}));
      group.spawn(fail_after("b", fail_now, journal));
      fail_now.request();
      co_return;
    };
    // c fails in its cleanup, then lets a finish its own.
    auto opener = [](Stop c_gate, Stop a_gate, Journal notes) -> asio::awaitable<void> {
      co_await c_gate.wait();
      auto ready1 = wait_until([notes] { return has(notes, "c cleanup fails"); });
      co_await std::move(ready1);
      a_gate.request();
    };
    asio::co_spawn(executor, opener(c_may_fail, a_may_finish, journal), tut::rethrow);
    co_await with_task_group(std::move(body));
  };
  auto error = group_error_of(test());
  REQUIRE(error);
  CHECK(names(error) == std::vector<std::string>{"b", "c cleanup"});
  CHECK(at(journal, "a cleanup started") < at(journal, "c cleanup fails"));
  CHECK(at(journal, "c cleanup fails") < at(journal, "a cleaned up"));
}

TEST_CASE("a failure after the body has returned cancels the siblings") {
  auto journal = make_journal();
  auto test = [&]() -> asio::awaitable<void> {
    Stop gate(co_await asio::this_coro::executor);
    auto body = [journal, gate](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(sleeper("sibling", journal));
      group.spawn(fail_after("late", gate, journal));
      journal->push_back("body returned");
      co_return;
    };
    auto opener = [](Stop door, Journal notes) -> asio::awaitable<void> {
      auto ready2 = wait_until([notes] { return has(notes, "body returned"); });
      co_await std::move(ready2);
      door.request();
    };
    asio::co_spawn(co_await asio::this_coro::executor, opener(gate, journal), tut::rethrow);
    co_await with_task_group(std::move(body));
  };
  auto error = group_error_of(test());
  REQUIRE(error);
  CHECK(names(error) == std::vector<std::string>{"late"});
  CHECK(at(journal, "body returned") < at(journal, "late fails"));
  CHECK(has(journal, "sibling cancelled"));
}

TEST_CASE("the body's failure is reported last, after the children's") {
  auto journal = make_journal();
  SECTION("a child fails first, the body fails in its cleanup") {
    auto test = [&]() -> asio::awaitable<void> {
      Stop gate(co_await asio::this_coro::executor);
      auto body = [journal, gate](TaskGroup group) -> asio::awaitable<void> {
        group.spawn(fail_after("child", gate, journal));
        gate.request();
        co_await slow_cleanup("body", gate, true, journal);
      };
      co_await with_task_group(std::move(body));
    };
    auto error = group_error_of(test());
    CHECK(names(error) == std::vector<std::string>{"child", "body cleanup"});
  }
  SECTION("the body fails first: the children are cancelled, only its failure is reported") {
    auto test = [&]() -> asio::awaitable<void> {
      auto body = [journal](TaskGroup group) -> asio::awaitable<void> {
        group.spawn(sleeper("child", journal));
        co_await tut::sleep(1ms);
        throw std::invalid_argument("body");
      };
      co_await with_task_group(std::move(body));
    };
    auto error = group_error_of(test());
    CHECK(names(error) == std::vector<std::string>{"body"});
    CHECK(has(journal, "child cancelled"));
  }
}

// -------------------------------------------------------------------------- cancellation

TEST_CASE("cancelling the parent cancels every child, waits for them, and is a cancellation") {
  auto journal = make_journal();
  bool fail_in_cleanup = GENERATE(false, true);
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Stop cleanup_gate(executor);
    auto parent = [](Journal notes, Stop door, bool fail) -> asio::awaitable<void> {
      auto body = [notes, door, fail](TaskGroup group) -> asio::awaitable<void> {
        group.spawn(slow_cleanup("x", door, false, notes));
        group.spawn(slow_cleanup("y", door, fail, notes));
        co_await sleeper("body", notes);
      };
      co_await with_task_group(std::move(body));
    };
    Parent state;
    start(parent(journal, cleanup_gate, fail_in_cleanup), state, executor);
    auto ready3 = wait_until([&] { return has(journal, "body started"); });
    co_await std::move(ready3);
    state.signal.emit(asio::cancellation_type::terminal);
    auto ready4 = wait_until([&] { return has(journal, "x cleanup started") &&
                                     has(journal, "y cleanup started"); });
    co_await std::move(ready4);
    CHECK_FALSE(state.done);  // still waiting for the cleanups
    cleanup_gate.request();
    auto ready5 = wait_until([&] { return state.done; });
    co_await std::move(ready5);
    if (fail_in_cleanup)  // a failure wins over the cancellation, as in asyncio
      CHECK(names(state.error) == std::vector<std::string>{"y cleanup"});
    else
      CHECK(tut::is_cancellation(state.error));
  };
  run_within(test());
  CHECK(has(journal, "body cancelled"));
  CHECK(has(journal, "x cleaned up"));
}

TEST_CASE("a parent cancelled before the group opens still cancels and awaits its children") {
  auto journal = make_journal();
  auto test = [&]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    auto parent = [](Journal notes) -> asio::awaitable<void> {
      // Between operations a cancellation is only recorded (lesson 005); throw_if_cancelled
      // off lets the coroutine go on and open the group with the request pending.
      co_await asio::this_coro::throw_if_cancelled(false);
      notes->push_back("parent working");
      auto here = co_await asio::this_coro::executor;
      for (;;) {
        asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) break;
        co_await asio::post(here, asio::use_awaitable);  // post() cannot be cancelled
      }
      notes->push_back("parent opens the group");
      auto body = [notes](TaskGroup group) -> asio::awaitable<void> {
        group.spawn(sleeper("child", notes));
        co_return;
      };
      co_await with_task_group(std::move(body));
    };
    Parent state;
    start(parent(journal), state, executor);
    auto ready6 = wait_until([&] { return has(journal, "parent working"); });
    co_await std::move(ready6);
    state.signal.emit(asio::cancellation_type::terminal);
    auto ready7 = wait_until([&] { return state.done; });
    co_await std::move(ready7);
    CHECK(tut::is_cancellation(state.error));
  };
  run_within(test());
  CHECK(has(journal, "child cancelled"));
}

TEST_CASE("a child's cancellation is not a failure") {
  auto journal = make_journal();
  auto cancelled = std::make_shared<std::optional<Child<int>>>();
  auto test = [&]() -> asio::awaitable<void> {
    auto body = [journal, cancelled](TaskGroup group) -> asio::awaitable<void> {
      *cancelled = group.spawn(sleeper("cancelled", journal));
      // A child that ends in operation_aborted on its own counts as cancelled too.
      group.spawn([]() -> asio::awaitable<void> {
        throw std::system_error(asio::error::operation_aborted);
        co_return;
      }());
      group.spawn(sleeper_void("sibling", journal, 20ms));
      auto ready8 = wait_until([journal] { return has(journal, "cancelled started"); });
      co_await std::move(ready8);
      CHECK((*cancelled)->cancel());
    };
    co_await with_task_group(std::move(body));
  };
  run_within(test());
  CHECK((*cancelled)->cancelled());
  CHECK_THROWS_AS((*cancelled)->result(), std::system_error);
  CHECK(has(journal, "sibling done"));
}

TEST_CASE("Child::wait() is `await task`: its value, and cancelling the awaiter cancels it") {
  auto journal = make_journal();
  auto awaiter = std::make_shared<std::optional<Child<void>>>();
  auto test = [&]() -> asio::awaitable<int> {
    auto body = [journal, awaiter](TaskGroup group) -> asio::awaitable<int> {
      Child<int> quick = group.spawn(sleeper("quick", journal, 1ms, 7));
      Child<int> target = group.spawn(sleeper("target", journal));
      auto await_target = [](Child<int> child, Journal notes) -> asio::awaitable<void> {
        int value = co_await child.wait();
        notes->push_back("got " + std::to_string(value));
      };
      *awaiter = group.spawn(await_target(target, journal));
      int value = co_await quick.wait();
      CHECK((*awaiter)->cancel());  // cancels its wait(), which cancels target
      co_return value;
    };
    co_return co_await with_task_group(std::move(body));
  };
  int value = run_within(test());
  CHECK(value == 7);
  CHECK(has(journal, "target cancelled"));
  CHECK((*awaiter)->cancelled());
  CHECK_FALSE(has(journal, "got 1"));
}

TEST_CASE("spawn() refuses a task once the group is finished") {
  make_journal();
  auto kept = std::make_shared<std::optional<TaskGroup>>();
  auto test = [&]() -> asio::awaitable<void> {
    auto body = [kept](TaskGroup group) -> asio::awaitable<void> {
      *kept = group;
      co_return;
    };
    co_await with_task_group(std::move(body));
  };
  run_within(test());
  REQUIRE(kept->has_value());
  CHECK((*kept)->running() == 0);
  std::string message;
  try {
    (*kept)->spawn(tut::sleep(1ms));
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  CHECK(message == "TaskGroup is finished");
}

// ------------------------------------------------------------------- groups and except*

TEST_CASE("split() and except_star() follow ExceptionGroup.split and except*") {
  auto leaf = [](auto e) { return std::make_exception_ptr(e); };
  auto tree = std::make_exception_ptr(ExceptionGroup(
      "outer", {leaf(std::invalid_argument("1")),
                std::make_exception_ptr(ExceptionGroup(
                    "inner", {leaf(std::runtime_error("2")), leaf(std::invalid_argument("3"))}))}));
  SECTION("split keeps messages and nesting (Python: outer[1, inner[3]] / outer[inner[2]])") {
    auto [matched, rest] = split<std::invalid_argument>(tree);
    CHECK(names(matched) == std::vector<std::string>{"1", "group[3]"});
    CHECK(names(rest) == std::vector<std::string>{"group[2]"});
    CHECK(split<std::logic_error>(tree).first != nullptr);  // derived types match
    CHECK(split<std::out_of_range>(tree).first == nullptr);
  }
  SECTION("except* handles one kind and returns the rest") {
    std::vector<std::string> handled;
    auto rest = except_star<std::invalid_argument>(tree, [&](const ExceptionGroup& group) {
      handled = names(std::make_exception_ptr(group));
    });
    CHECK(handled == std::vector<std::string>{"1", "group[3]"});
    CHECK(names(rest) == std::vector<std::string>{"group[2]"});
    rest = except_star<std::runtime_error>(rest, [](const ExceptionGroup&) {});
    CHECK(rest == nullptr);
  }
  SECTION("a plain exception: wrapped in a group if it matches, returned as is if not") {
    std::string message = "?";
    auto rest = except_star<std::invalid_argument>(
        leaf(std::invalid_argument("x")),
        [&](const ExceptionGroup& group) { message = group.message() + names(std::make_exception_ptr(group))[0]; });
    CHECK(rest == nullptr);
    CHECK(message == "x");
    auto other = leaf(std::runtime_error("y"));
    CHECK(except_star<std::invalid_argument>(other, [](const ExceptionGroup&) { FAIL(); }) == other);
  }
  SECTION("a handler that throws: its exception, grouped with what is left") {
    auto raise = [](const ExceptionGroup&) { throw std::out_of_range("raised"); };
    std::exception_ptr thrown;
    try {
      except_star<std::invalid_argument>(tree, raise);
    } catch (...) {
      thrown = std::current_exception();
    }
    CHECK(names(thrown) == std::vector<std::string>{"raised", "group[group[2]]"});
    try {
      except_star<std::invalid_argument>(leaf(std::invalid_argument("x")), raise);
    } catch (...) {
      thrown = std::current_exception();
    }
    CHECK(names(thrown) == std::vector<std::string>{"raised"});  // nothing left: not grouped
  }
}

TEST_CASE("nested task groups give nested ExceptionGroups, and except* reaches inside") {
  auto journal = make_journal();
  auto test = [&]() -> asio::awaitable<void> {
    Stop gate(co_await asio::this_coro::executor);
    auto inner = [](Stop door, Journal notes) -> asio::awaitable<void> {
      auto body = [door, notes](TaskGroup group) -> asio::awaitable<void> {
        group.spawn(fail_after("deep", door, notes));
        co_return;
      };
      co_await with_task_group(std::move(body));
    };
    auto body = [inner, gate, journal](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(inner(gate, journal));
      group.spawn(sleeper("sibling", journal));
      gate.request();
      co_return;
    };
    co_await with_task_group(std::move(body));
  };
  auto error = group_error_of(test());
  CHECK(names(error) == std::vector<std::string>{"group[deep]"});
  CHECK(has(journal, "sibling cancelled"));
  int handled = 0;
  auto rest = except_star<std::invalid_argument>(error, [&](const ExceptionGroup&) { ++handled; });
  CHECK(handled == 1);
  CHECK(rest == nullptr);
}

// ---------------------------------------------------------------------- several threads

TEST_CASE("on a strand over four threads: every child accounted for, clean under TSan") {
  bool with_failure = GENERATE(false, true);
  asio::io_context context;
  auto strand = asio::make_strand(context);
  auto count = std::make_shared<int>(0);  // touched only on the strand
  auto grandchild = [](std::shared_ptr<int> counter, bool fail) -> asio::awaitable<void> {
    co_await tut::sleep(1ms);
    ++*counter;
    if (fail) throw std::invalid_argument("grandchild");
  };
  auto child = [grandchild](TaskGroup group, std::shared_ptr<int> counter,
                            int index, bool failing) -> asio::awaitable<void> {
    co_await tut::sleep(1ms);
    group.spawn(grandchild(counter, failing && index == 25));
    group.spawn(grandchild(counter, false));
    ++*counter;
  };
  auto body = [child, count, with_failure](TaskGroup group) -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) group.spawn(child(group, count, i, with_failure));
    co_return;
  };
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(strand, with_task_group(std::move(body)), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { context.run(); });
  for (auto& thread : threads) thread.join();
  CHECK(done);
  if (with_failure) {
    CHECK(names(error) == std::vector<std::string>{"grandchild"});
  } else {
    CHECK(error == nullptr);
    CHECK(*count == 150);
  }
}

// ------------------------------------------------------------------------------ shutdown

TEST_CASE("Stop: wait() returns once requested, at once afterwards, and throws if cancelled") {
  make_journal();
  auto test = []() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    Stop stop(executor);
    auto wait = [](Stop watched) -> asio::awaitable<void> { co_await watched.wait(); };
    Parent waiter, cancelled;
    start(wait(stop), waiter, executor);
    start(wait(stop), cancelled, executor);
    co_await tut::sleep(5ms);
    CHECK_FALSE(waiter.done);  // nobody asked yet
    cancelled.signal.emit(asio::cancellation_type::terminal);
    auto ready9 = wait_until([&] { return cancelled.done; });
    co_await std::move(ready9);
    CHECK(tut::is_cancellation(cancelled.error));
    CHECK_FALSE(stop.requested());
    stop.request();
    auto ready10 = wait_until([&] { return waiter.done; });
    co_await std::move(ready10);
    CHECK(waiter.error == nullptr);
    CHECK(stop.requested());
    co_await stop.wait();  // returns at once
  };
  run_within(test());
}

TEST_CASE("run_service: a service that ends by itself is 'finished', exit code 0") {
  auto journal = make_journal();
  Service service = [journal](TaskGroup tasks, Stop) {
    tasks.spawn(sleeper_void("task", journal, 10ms));
    return tut::sleep(1ms);
  };
  Ending ending = run_within(run_service(service, 60s));
  CHECK(ending == Ending::finished);
  CHECK(exit_code(ending) == 0);
  CHECK(has(journal, "task done"));
}

TEST_CASE("run_service: a task's failure is thrown as the service's ExceptionGroup") {
  auto journal = make_journal();
  auto test = [journal]() -> asio::awaitable<Ending> {
    Stop open(co_await asio::this_coro::executor);
    open.request();
    Service service = [journal, open](TaskGroup tasks, Stop) {
      tasks.spawn(sleeper_void("other", journal));
      tasks.spawn(fail_after("bad", open, journal));
      return tut::sleep(1ms);
    };
    co_return co_await run_service(service, 60s);
  };
  auto error = group_error_of(test());
  CHECK(names(error) == std::vector<std::string>{"bad"});  // not wrapped twice
  CHECK(has(journal, "other cancelled"));
}

namespace {

// A client that submits a job every millisecond until one is rejected; ids from 1.
asio::awaitable<void> load(JobService jobs, std::shared_ptr<std::vector<int>> submitted) {
  for (int id = 1;; ++id) {
    submitted->push_back(id);
    if (!jobs.submit({id, 5ms})) break;
    co_await tut::sleep(1ms);
  }
}

// Sends this process SIGTERM once `accepted` jobs have been accepted (run_service's
// signal_set is installed by then: it is made before the service starts).
asio::awaitable<void> terminate_after(JobService jobs, std::size_t accepted) {
  auto ready11 = wait_until([&] { return jobs.ledger().accepted.size() >= accepted; });
  co_await std::move(ready11);
  ::kill(::getpid(), SIGTERM);
}

std::vector<int> sorted(std::vector<int> a, const std::vector<int>& b = {}) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

}  // namespace

TEST_CASE("SIGTERM under load: nothing accepted is lost, clean or past the grace period") {
  make_journal();
  const bool past_grace = GENERATE(false, true);
  constexpr int long_job = 100000;
  auto submitted = std::make_shared<std::vector<int>>();
  auto test = [&]() -> asio::awaitable<Ending> {
    auto executor = co_await asio::this_coro::executor;
    JobService jobs(3);
    // Past the grace: a job that would take a minute is running when the signal comes.
    if (past_grace) jobs.submit({long_job, 60s});
    asio::co_spawn(executor, load(jobs, submitted), tut::rethrow);
    asio::co_spawn(executor, terminate_after(jobs, 30), tut::rethrow);
    Service service = [jobs](TaskGroup tasks, Stop stop) mutable { return jobs.run(tasks, stop); };
    Ending ending = co_await run_service(service, past_grace ? 20ms : 60s);
    const Ledger& ledger = jobs.ledger();
    // Every job submitted was accepted or rejected (the caller told), never both.
    CHECK(sorted(ledger.accepted, ledger.rejected) ==
          sorted(*submitted, past_grace ? std::vector<int>{long_job} : std::vector<int>{}));
    CHECK_FALSE(ledger.rejected.empty());  // the load went on after the signal
    // Every job accepted was done or reported cancelled, never both.
    CHECK(sorted(ledger.done, ledger.cancelled) == sorted(ledger.accepted));
    if (past_grace)
      CHECK(std::count(ledger.cancelled.begin(), ledger.cancelled.end(), long_job) == 1);
    else
      CHECK(ledger.cancelled.empty());
    co_return ending;
  };
  Ending ending = run_within(test(), 30s);
  CHECK(ending == (past_grace ? Ending::forced : Ending::clean));
  CHECK(exit_code(ending) == (past_grace ? 1 : 0));
}

TEST_CASE("a second signal during the grace period cancels at once") {
  auto journal = make_journal();
  auto test = [journal]() -> asio::awaitable<Ending> {
    auto executor = co_await asio::this_coro::executor;
    auto noticed = [](Stop stop, Journal notes) -> asio::awaitable<void> {
      co_await stop.wait();
      notes->push_back("stop seen");
    };
    Service service = [journal, noticed](TaskGroup tasks, Stop stop) {
      tasks.spawn(sleeper_void("stubborn", journal));  // ignores the Stop for a minute
      return noticed(stop, journal);
    };
    auto signals = [](Journal notes) -> asio::awaitable<void> {
      auto ready12 = wait_until([&] { return has(notes, "stubborn started"); });
      co_await std::move(ready12);
      ::kill(::getpid(), SIGTERM);
      auto ready13 = wait_until([&] { return has(notes, "stop seen"); });
      co_await std::move(ready13);
      ::kill(::getpid(), SIGTERM);
    };
    asio::co_spawn(executor, signals(journal), tut::rethrow);
    co_return co_await run_service(service, 60s);  // the limit below is shorter than that
  };
  Ending ending = run_within(test(), 30s);
  CHECK(ending == Ending::forced);
  CHECK(has(journal, "stubborn cancelled"));
}

// ------------------------------------------------------------- the program, as a learner runs it

TEST_CASE("022_task_groups --serve exits 0 after a clean shutdown, 1 past the grace period") {
  const bool past_grace = GENERATE(false, true);
  // Jobs take 0.7 s and one is always running: a 5 s grace is enough, 0 s never is.
  auto program = tut::test::Program::built("022_task_groups", {"--serve", past_grace ? "0" : "5000"});
  program.read_until("job 1 started", 20s);
  REQUIRE_THAT(program.output(), tut::test::ContainsSubstring("job 1 started"));
  program.signal(SIGTERM);
  program.read_until("", 20s);
  const int status = program.wait(20s).code;  // -1 if it was still running (then killed)
  const std::string& output = program.output();
  CHECK_THAT(output, tut::test::ContainsSubstring("SIGTERM received: stop accepting"));
  if (past_grace) {
    CHECK_THAT(output, tut::test::ContainsSubstring("ending: forced, exit code 1"));
    CHECK(status == 1);
  } else {
    CHECK_THAT(output, tut::test::ContainsSubstring("ending: clean, exit code 0"));
    CHECK(status == 0);
  }
}
