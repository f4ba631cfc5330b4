// Tests of exercise 022.1 (exercise.cpp next to this file): process_all() runs on a real event
// loop with a process() that notes what each item did.
#include <algorithm>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>

#include "sleep.hpp"
#include "task_group.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {
std::vector<std::string> notes;  // "a done", "slow cancelled", ...
}

namespace exercise {
// "bad" fails after 10 ms, "slow" takes 300 ms, any other item 30 ms.
asio::awaitable<void> process(std::string item) {
  std::exception_ptr cancelled;
  try {
    co_await tut::sleep(item == "slow" ? 300ms : item == "bad" ? 10ms : 30ms);
  } catch (const std::system_error&) {
    cancelled = std::current_exception();  // operation_aborted: noted, then let it propagate
  }
  if (cancelled) {
    notes.push_back(item + " cancelled");
    std::rethrow_exception(cancelled);
  }
  if (item == "bad") throw std::runtime_error("bad is bad");
  notes.push_back(item + " done");
}
asio::awaitable<void> process_all(std::vector<std::string> items);
}  // namespace exercise

namespace {
std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}
}  // namespace

TEST_CASE("process_all returns only once every item is processed") {
  notes.clear();
  auto test = []() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::string> items{"a", "b", "c"};
    co_await exercise::process_all(items);
    co_return notes;  // what was done when process_all returned
  };
  std::vector<std::string> done_at_return = tut::test::run_within(test(), 5s);
  INFO("when process_all returned, these were done: [" << joined(done_at_return)
       << "]; expected a, b and c (in any order)");
  CHECK(done_at_return.size() == 3);
}

TEST_CASE("a failing item cancels the others and comes out of process_all as an ExceptionGroup") {
  notes.clear();
  auto test = []() -> asio::awaitable<std::string> {
    std::vector<std::string> items{"slow", "bad", "a"};
    std::string outcome = "process_all returned normally";
    try {
      co_await exercise::process_all(items);
    } catch (const lesson022::ExceptionGroup& group) {
      outcome = "ExceptionGroup of " + std::to_string(group.exceptions().size());
    }
    co_return outcome;
  };
  std::string outcome;
  try {
    outcome = tut::test::run_within(test(), 5s);
  } catch (const std::exception& error) {
    outcome = std::string("the event loop threw \"") + error.what() + "\"";
  }
  INFO("what happened: [" << joined(notes) << "]");
  INFO("outcome: " << outcome << "; expected process_all to throw an ExceptionGroup of 1");
  CHECK(outcome == "ExceptionGroup of 1");
  bool slow_was_cancelled = std::find(notes.begin(), notes.end(), "slow cancelled") != notes.end();
  CHECK(slow_was_cancelled);
}
