// Tests of exercise 002.1 (exercise.cpp next to this file): they call make_breakfast() on a
// real io_context and read the order of events from lesson 002's Timeline, not the clock.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include "tasks.hpp"
#include "test_support.hpp"

namespace exercise {
void make_breakfast(asio::any_io_executor executor, std::shared_ptr<lesson002::Timeline> timeline);
}

using namespace std::chrono_literals;

namespace {
std::shared_ptr<lesson002::Timeline> breakfast_timeline() {
  auto timeline = std::make_shared<lesson002::Timeline>();
  asio::io_context context;
  exercise::make_breakfast(context.get_executor(), timeline);
  context.run_for(5s);
  if (!context.stopped()) FAIL("breakfast was still not ready after 5 s: does something wait forever?");
  return timeline;
}
}  // namespace

TEST_CASE("make_breakfast makes toast, eggs and coffee") {
  auto timeline = breakfast_timeline();
  INFO("what happened, in order: " << Catch::Detail::stringify(timeline->events()));
  for (std::string job : {"toast", "eggs", "coffee"}) {
    CHECK(timeline->position(job + " done") >= 0);
  }
}

TEST_CASE("the three jobs overlap: all three start before the first one is done") {
  auto timeline = breakfast_timeline();
  INFO("what happened, in order: " << Catch::Detail::stringify(timeline->events()));
  int first_done = timeline->position("toast done");
  REQUIRE(first_done >= 0);
  INFO("expected every job to start before toast (100 ms) is done, as three tasks would");
  CHECK(timeline->position("eggs started") < first_done);
  CHECK(timeline->position("coffee started") < first_done);
}

TEST_CASE("make_breakfast returns at once and breakfast takes the longest job, 0.3 s, not 0.6 s") {
  auto timeline = std::make_shared<lesson002::Timeline>();
  asio::io_context context;
  auto start = std::chrono::steady_clock::now();
  exercise::make_breakfast(context.get_executor(), timeline);
  context.run_for(5s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start).count();
  INFO("breakfast took " << took << " ms; three overlapping jobs of 100, 200 and 300 ms take "
       "about 300 ms, three in a row 600 ms");
  CHECK(took < 550);
}
