// Lesson 014 demo: a timeout around one operation, the `||` trap, per-read timeouts on a real
// socket (where a partial line survives a timeout), one deadline for a whole sequence, and
// nested deadlines where the inner one and then the outer one wins.
#include <asio/this_coro.hpp>

#include "log.hpp"
#include "run.hpp"
#include "timeouts.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using asio::ip::tcp;
using Clock = lesson014::clock;
using std::chrono::milliseconds;
using lesson014::Deadline;
using lesson014::LineReader;
using lesson014::TimeoutError;
// The demo's scaffolding (timeouts_how_it_is_built.hpp): what_happened() names how an
// operation ended, reporting() logs it, connect_and_greet() connects or logs why not, peer()
// sends a script.
using lesson014::demo::connect_and_greet;
using lesson014::demo::peer;
using lesson014::demo::reporting;
using lesson014::demo::what_happened;

namespace {

asio::awaitable<void> part1_wait_for() {
  tut::reset_clock();  // each part starts at 0.0s
  tut::log("main", "with_timeout(fetch that answers after 0.1s, 0.3s):");
  auto quick = lesson014::slow_answer("fetch", 100ms, "fast");
  auto answer = co_await lesson014::with_timeout(std::move(quick), 300ms);
  tut::log("main", "got {:?}", answer);

  tut::log("main", "with_timeout(fetch that answers after 0.5s, 0.2s):");
  try {
    auto slow = lesson014::slow_answer("fetch", 500ms, "slow");
    co_await lesson014::with_timeout(std::move(slow), 200ms);
  } catch (const TimeoutError&) {
    tut::log("main", "TimeoutError, raised once fetch had cleaned up");
  }
}

asio::awaitable<void> part2_the_or_trap() {
  tut::reset_clock();
  // A socket bound to a port but not listening: connecting to it is refused at once.
  auto executor = co_await asio::this_coro::executor;
  tcp::socket closed(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  auto endpoint = closed.local_endpoint();

  tut::log("main", "naive (connect || timer), 0.3s:");
  auto naive = lesson014::naive_with_timeout(connect_and_greet(endpoint), 300ms);
  auto result = co_await std::move(naive);
  if (!result) tut::log("main", "no result: looks like a timeout, 0.3s late; the error is lost");

  tut::log("main", "with_timeout(connect, 0.3s):");
  std::exception_ptr error;
  try {
    auto guarded = lesson014::with_timeout(connect_and_greet(endpoint), 300ms);
    co_await std::move(guarded);
  } catch (const std::system_error&) {
    error = std::current_exception();
  }
  tut::log("main", "{} at once, and not a timeout", what_happened(error));
}

asio::awaitable<void> parts3_and_4_socket(LineReader* reader, Clock::time_point start) {
  tut::log("main", "read_line() with a 0.3s timeout per line:");
  for (int i = 0; i < 4; ++i) {
    try {
      auto line = co_await reader->read_line(300ms);
      tut::log("main", "got {:?}", line);
    } catch (const TimeoutError&) {
      tut::log("main", "TimeoutError; the partial line is kept: buffered {:?}",
               reader->buffered());
    }
  }

  tut::log("main", "read_lines(3 lines, all by 1.0s): one deadline for the sequence");
  auto lines = co_await lesson014::read_lines(*reader, 3, start + 1000ms);
  tut::log("main", "deadline passed with {} of 3 lines, though each came 0.1s after the last", lines.size());
  auto late = co_await reader->read_line(300ms);
  tut::log("main", "the late line is not lost either: {:?}", late);
}

asio::awaitable<void> nested(std::string title, milliseconds outer_limit,
                             milliseconds inner_limit) {
  auto executor = co_await asio::this_coro::executor;
  tut::reset_clock();
  tut::log("main", "{}", title);
  Deadline outer(executor, Clock::now() + outer_limit);
  Deadline inner(executor, Clock::now() + inner_limit);
  auto work = lesson014::slow_answer("work", 500ms, "done");
  auto inner_part = reporting("inner", inner.run(std::move(work)));
  auto outer_part = reporting("outer", outer.run(std::move(inner_part)));
  try {
    co_await std::move(outer_part);
  } catch (const std::system_error&) {
  }
  tut::log("main", "expired: inner {}, outer {}", inner.expired(), outer.expired());
}

}  // namespace

// Not in the anonymous namespace: g++ 12 would inline this coroutine into main() and, under
// -O1 with sanitizers, warn falsely about its frame's allocation (-Wmismatched-new-delete).
asio::awaitable<void> demo() {
  co_await part1_wait_for();
  co_await part2_the_or_trap();

  auto [client, server] = co_await lesson014::socket_pair();
  LineReader reader(std::move(client));
  tut::reset_clock();
  auto start = Clock::now();
  auto talking = peer(std::move(server), start);
  auto listening = parts3_and_4_socket(&reader, start);
  co_await (std::move(talking) && std::move(listening));

  co_await nested("nested: outer 0.3s around inner 0.1s", 300ms, 100ms);
  co_await nested("nested: outer 0.1s around inner 0.3s", 100ms, 300ms);
}

int main() { tut::run(demo()); }
