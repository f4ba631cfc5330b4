// Tests of exercise 003.1 (exercise.cpp next to this file): they call fetch_everything() on a
// real event loop with lesson 003's fetch() children, two of which fail.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "gather.hpp"
#include "test_support.hpp"

namespace exercise {
struct Report {
  std::vector<std::string> fetched;
  std::vector<std::string> errors;
};
asio::awaitable<Report> fetch_everything(std::vector<lesson003::Fetch> fetches,
                                         std::shared_ptr<lesson003::Journal> journal);
}  // namespace exercise

using namespace std::chrono_literals;
using lesson003::Fetch;

namespace {
// a and c succeed; b fails at 50 ms, d at 20 ms, before a (100 ms) and c (150 ms) are done.
std::vector<Fetch> four_fetches() {
  return {{"a", 100ms}, {"b", 50ms, true}, {"c", 150ms}, {"d", 20ms, true}};
}
}  // namespace

TEST_CASE("fetch_everything reports every fetch that succeeded, in the order given") {
  auto journal = std::make_shared<lesson003::Journal>();
  auto report = tut::test::run_within(exercise::fetch_everything(four_fetches(), journal), 5s);
  INFO("what the fetches did: " << Catch::Detail::stringify(journal->events()));
  CHECK(report.fetched == std::vector<std::string>{"a", "c"});
}

TEST_CASE("fetch_everything reports every failure, in the order given, not just the first") {
  auto journal = std::make_shared<lesson003::Journal>();
  auto report = tut::test::run_within(exercise::fetch_everything(four_fetches(), journal), 5s);
  CHECK(report.errors == std::vector<std::string>{"b failed", "d failed"});
}

TEST_CASE("a failure cancels no other fetch: every one runs to its end") {
  auto journal = std::make_shared<lesson003::Journal>();
  tut::test::run_within(exercise::fetch_everything(four_fetches(), journal), 5s);
  INFO("what the fetches did: " << Catch::Detail::stringify(journal->events()));
  CHECK(journal->names_that("cancelled").empty());
  CHECK(journal->names_that("done") == std::vector<std::string>{"a", "c"});
}

TEST_CASE("with no failure, fetch_everything returns every name and no error") {
  auto journal = std::make_shared<lesson003::Journal>();
  std::vector<Fetch> fetches{{"x", 30ms}, {"y", 10ms}};
  auto report = tut::test::run_within(exercise::fetch_everything(fetches, journal), 5s);
  CHECK(report.fetched == std::vector<std::string>{"x", "y"});
  CHECK(report.errors.empty());
}
