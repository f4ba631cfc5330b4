// Lesson 003 demo: gather many children, get results in submission order, and see what
// happens to the others when one fails or when the whole gather is cancelled.
#include <exception>

#include <fmt/core.h>

#include "demo.hpp"
#include "gather.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using lesson003::Fetch;
using lesson003::Journal;
using lesson003::describe;

namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string joined;
  for (auto& part : parts) joined += (joined.empty() ? "" : ", ") + part;
  return joined;
}

std::string what(std::exception_ptr error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

// 1. A fixed set with &&.
asio::awaitable<void> with_and() {
  auto journal = std::make_shared<Journal>();
  Fetch a{"a", 300ms}, b{"b", 100ms}, c{"c", 200ms};  // not braced inside co_await (g++ 12)
  auto results = co_await lesson003::gather_with_and(a, b, c, journal);
  // The time stamp shows how long it took: the longest child, not the sum.
  tut::log("main", "&& gave {}, {}, {}: the order written, not the order finished", results[0],
           results[1], results[2]);
}

// 2. One child of && fails: what comes out, and how gather() keeps the cause.
asio::awaitable<void> and_failure() {
  auto journal = std::make_shared<Journal>();
  Fetch a{"a", 300ms}, b{"b", 100ms, true}, c{"c", 200ms};
  std::exception_ptr error;
  try {
    co_await lesson003::gather_with_and(a, b, c, journal);
  } catch (...) {
    error = std::current_exception();
  }
  tut::log("main", "&& threw \"{}\"", what(error));  // what a catch (std::exception&) sees
  auto found = lesson003::unwrap(error);               // open the multiple_exceptions layers
  tut::log("main", "inside {} multiple_exceptions: \"{}\"{}", found.layers,
           what(found.innermost),
           tut::is_cancellation(found.innermost) ? ", a cancellation: the cause is lost" : "");
  std::vector<Fetch> same{a, b, c};
  try {
    co_await lesson003::fetch_all(std::move(same), journal);
  } catch (const std::exception& gathered) {
    tut::log("main", "gather() threw \"{}\": it keeps the first failure", gathered.what());
  }
}

// 3. The same with make_parallel_group.
asio::awaitable<void> with_group() {
  auto journal = std::make_shared<Journal>();
  Fetch a{"a", 300ms}, b{"b", 100ms}, c{"c", 200ms};
  auto result = co_await lesson003::gather_with_group(a, b, c, journal);
  const char* names = "abc";
  auto& order = result.completion_order;
  tut::log("main", "completed in the order {}, {}, {}; outcomes {}, {}, {}", names[order[0]],
           names[order[1]], names[order[2]], describe(result.outcomes[0]),
           describe(result.outcomes[1]), describe(result.outcomes[2]));
}

// 4. A vector whose size is known only at run time.
asio::awaitable<void> with_vector(std::vector<Fetch> specs) {
  auto journal = std::make_shared<Journal>();
  tut::log("main", "gathering {} fetches", specs.size());
  auto results = co_await lesson003::fetch_all(std::move(specs), journal);
  tut::log("main", "gather gave [{}]", join(results));
}

// 5. One child fails: the others are cancelled, the error is rethrown.
asio::awaitable<void> first_error() {
  auto journal = std::make_shared<Journal>();
  std::vector<Fetch> specs{{"slow", 300ms}, {"broken", 100ms, true}, {"slower", 400ms}};
  try {
    co_await lesson003::fetch_all(std::move(specs), journal);
  } catch (const std::exception& error) {
    tut::log("main", "gather threw \"{}\"; children still running: {}", error.what(),
             journal->running());
  }
}

// 6. return_exceptions=True: every outcome, failures included, nobody cancelled.
asio::awaitable<void> every_outcome() {
  auto journal = std::make_shared<Journal>();
  std::vector<asio::awaitable<std::string>> children;
  children.push_back(lesson003::fetch({"x", 200ms}, journal));
  children.push_back(lesson003::fetch({"broken", 100ms, true}, journal));
  children.push_back(lesson003::fetch({"y", 100ms}, journal));
  auto outcomes = co_await lesson003::gather_outcomes(std::move(children));
  std::vector<std::string> described;
  for (auto& outcome : outcomes) described.push_back(describe(outcome));
  tut::log("main", "gather_outcomes gave [{}]", join(described));
}

// 7. Cancelling the gather cancels every child.
asio::awaitable<void> time_limit() {
  auto journal = std::make_shared<Journal>();
  std::vector<Fetch> specs{{"quick", 100ms}, {"slow", 300ms}, {"slower", 400ms}};
  auto results = co_await lesson003::fetch_all_within(std::move(specs), 200ms, journal);
  tut::log("main", "{}; children still running: {}",
           results ? "gathered in time" : "the timer won, the gather was cancelled",
           journal->running());
}

void part(const char* title, asio::awaitable<void> demo) {
  tut::part(title);
  tut::run(std::move(demo));
}

}  // namespace

int main() {
  part("1. a fixed set: co_await (fetch(a) && fetch(b) && fetch(c))", with_and());
  part("2. && when b fails, then gather() of the same three", and_failure());
  part("3. the same with make_parallel_group(...).async_wait(wait_for_all(), ...)", with_group());
  // Built at run time: the count could come from a file or the command line.
  std::vector<Fetch> specs;
  for (int i = 1; i <= 5; ++i) specs.push_back({fmt::format("page-{}", i), (i % 3 + 1) * 100ms});
  part("4. gather(vector): as many children as the program decides", with_vector(specs));
  part("5. one child fails: gather cancels the others and rethrows", first_error());
  part("6. gather_outcomes: return_exceptions=True, every outcome kept", every_outcome());
  part("7. cancelling the gather cancels its children: gather || a timer", time_limit());
}
