#include "pitfalls.hpp"

#include <chrono>
#include <string>

#include "compat.hpp"
#include "program.hpp"
#include "test_support.hpp"

using namespace lesson019;
using namespace std::chrono_literals;

TEST_CASE("pitfall 1: detached swallows a task's exception, rethrow reports it") {
  auto detached = run_failing_task(false);
  CHECK(detached.task_threw);        // the task really failed...
  CHECK(detached.run_threw.empty());  // ...and nobody heard of it
  auto rethrown = run_failing_task(true);
  CHECK(rethrown.task_threw);
  CHECK(rethrown.run_threw == "reported");
  // The "nobody heard of it" check fails where the exception is not lost: it can tell.
  CHECK_FALSE(rethrown.run_threw.empty());
}

TEST_CASE("pitfall 2: the watchdog reports a blocking call on the loop, not an offloaded one") {
  // The blocking call sleeps 300 ms. On the loop, it stalls the loop for about that long.
  CHECK(worst_stall_while_blocking(false) > 100ms);
  // Offloaded, no stall comes near it. Not "< 100 ms": a loaded machine (load average 18 on 2
  // cores, with CI building beside `ctest --repeat until-fail:20`) once delayed one wake-up
  // past 100 ms; only a stall as long as the call itself means the call ran on the loop.
  CHECK(worst_stall_while_blocking(true) < 250ms);
}

TEST_CASE("pitfall 3: by value, a coroutine owns its argument") {
  CHECK(spawn_word_count_with_temporary(false) == 11);
}

#if defined(__SANITIZE_ADDRESS__)
TEST_CASE("pitfall 3: ASan catches the dangling reference parameter") {
  // Run the lesson program's reproducer in a child process: it must die with an ASan report.
  tut::test::Program::Options merged;  // the report goes to stderr
  merged.err = tut::test::Program::Stderr::to_stdout;
  auto program = tut::test::Program::built("019_debugging", {"--dangling"}, merged);
  const tut::test::Exit exit = program.wait(std::chrono::seconds(60));
  const std::string& output = program.output();
  CHECK_FALSE(exit.code == 0);
  CHECK_THAT(output, tut::test::ContainsSubstring("AddressSanitizer"));
  CHECK_THAT(output, tut::test::ContainsSubstring("count_words_by_reference"));
}
#endif

TEST_CASE("pitfall 4: `||` waits for the success, wait_for_one ends at the first completion") {
  CHECK(race_duration(false) >= 300ms);
  auto first_completion = race_duration(true);
  CHECK(first_completion >= 100ms);
  CHECK(first_completion < 300ms);
}

TEST_CASE("pitfall 5: close() drops buffered messages before Asio 1.27, an end marker never") {
  // The release decides (common/compat.hpp): 1.22 (Debian 12) drops all 5, 1.27+ keeps them.
  int kept_by_close = compat::channel_close_keeps_buffered_messages ? 5 : 0;
  CHECK(messages_received_after_close(5) == kept_by_close);
  CHECK(messages_received_with_end_marker(5) == 5);
  CHECK(messages_received_with_end_marker(0) == 0);
}

TEST_CASE("pitfall 5: close() leaves a waiting sender stuck, cancel() first releases it") {
  CHECK_FALSE(waiting_sender_released(false));
  CHECK(waiting_sender_released(true));
}

TEST_CASE("pitfall 6: `||` loses a message that lands with the timeout, parallel_group keeps it") {
  for (int i = 0; i < 20; ++i) {
    CHECK_FALSE(message_survives_timeout_race(false));
    CHECK(message_survives_timeout_race(true));
  }
}

TEST_CASE("pitfall 7: stop() abandons a task mid-way, cancelling lets it clean up") {
  auto stopped = shut_down_during_work(false);
  CHECK_FALSE(stopped.saved);
  CHECK_FALSE(stopped.cleanup_ran);
  auto graceful = shut_down_during_work(true);
  CHECK(graceful.saved);
  CHECK(graceful.cleanup_ran);
}

TEST_CASE("pitfall 8: a read after eof waits forever, stopping at eof keeps the partial line") {
  // The bug: after the read that returned eof with "hello" in the buffer, the loop reads again.
  // Over a real socket that read is still waiting at the deadline (200 ms here: it would wait
  // for ever), and only the deadline's cancel ends it.
  auto read_again = read_lines(false, 200ms);
  CHECK(read_again.lines == std::vector<std::string>{"one", "hello"});
  CHECK_FALSE(read_again.finished);
  // The fix finishes by itself, with the same lines (10 s is only a bound, never reached).
  auto stopped = read_lines(true, 10s);
  CHECK(stopped.lines == std::vector<std::string>{"one", "hello"});
  CHECK(stopped.finished);
}
