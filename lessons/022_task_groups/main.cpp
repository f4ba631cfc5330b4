// Lesson 022 demo: a task group waits for all its children, a failure cancels the rest and
// every failure comes out in one ExceptionGroup, the parent's cancellation reaches every
// child; then a small service shuts down on SIGTERM, cleanly and past its grace period.
//   022_task_groups                  the demonstration
//   022_task_groups --serve [ms]     a job service until Ctrl-C/SIGTERM (grace: ms, 1000)
#include <csignal>
#include <cstdio>
#include <string>

#include <unistd.h>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "demo.hpp"
#include "log.hpp"
#include "sleep.hpp"
#include "run.hpp"
#include "job_service.hpp"
#include "shutdown.hpp"
#include "task_group.hpp"

using namespace std::chrono_literals;
using namespace lesson022;

namespace {

// A child: works for `delay`, then returns or fails; on cancellation it cleans up for 100 ms
// (reset its cancellation state to await, lesson 005) and rethrows, or fails in its cleanup.
asio::awaitable<void> child(std::string name, milliseconds delay, bool fail = false,
                            bool fail_in_cleanup = false) {
  bool cancelled = false;
  try {
    co_await tut::sleep(delay);
  } catch (const std::system_error&) {
    cancelled = true;  // no co_await in a catch block
  }
  if (!cancelled) {
    tut::log(name, "{}", fail ? "fails" : "done");
    if (fail) throw std::invalid_argument(name + " failed");
    co_return;
  }
  tut::log(name, "cancelled: cleaning up");
  co_await asio::this_coro::reset_cancellation_state();
  co_await tut::sleep(100ms);
  tut::log(name, "{}", fail_in_cleanup ? "cleanup fails" : "cleanup done");
  if (fail_in_cleanup) throw std::runtime_error(name + " cleanup failed");
  throw std::system_error(asio::error::operation_aborted);
}

asio::awaitable<void> spawner(TaskGroup group) {
  co_await tut::sleep(100ms);
  tut::log("b", "spawns c into the group");
  group.spawn(child("c", 200ms));
}

// An exception, or a group as "message [inner; inner]", recursively.
std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ExceptionGroup& group) {
    std::vector<std::string> inner;
    for (auto& e : group.exceptions()) inner.push_back(describe(e));
    return fmt::format("{} [{}]", group.message(), fmt::join(inner, "; "));
  } catch (const std::exception& e) {
    return e.what();
  }
}

asio::awaitable<void> all_children() {
  tut::part("1. the group ends when every child has ended, also one spawned by a child");
  auto body = [](TaskGroup group) -> asio::awaitable<void> {
    group.spawn(child("a", 200ms));
    group.spawn(spawner(group));
    tut::log("main", "body returns, {} running", group.running());
    co_return;
  };
  co_await with_task_group(std::move(body));
  tut::log("main", "the group has ended");
}

asio::awaitable<void> failures() {
  tut::part("2. a failure cancels the others and the body; failures come out together");
  std::exception_ptr error;
  try {
    auto body = [](TaskGroup group) -> asio::awaitable<void> {
      group.spawn(child("ok", 500ms));
      group.spawn(child("bad", 200ms, true));
      group.spawn(child("cleaner", 500ms, false, true));
      co_await child("body", 1s);
    };
    co_await with_task_group(std::move(body));
  } catch (const ExceptionGroup& group) {
    error = std::current_exception();
    tut::log("main", "caught {}: {}", group.what(), describe(error));
  }
  // except* std::invalid_argument: handle those, keep the rest.
  auto rest = except_star<std::invalid_argument>(error, [](const ExceptionGroup& group) {
    tut::log("main", "except* invalid_argument: {}", describe(group.exceptions().at(0)));
  });
  tut::log("main", "left for the caller: {}", describe(rest));
}

asio::awaitable<void> parent_with_group() {
  auto body = [](TaskGroup group) -> asio::awaitable<void> {
    group.spawn(child("x", 1s));
    group.spawn(child("y", 1s));
    co_await tut::sleep(1s);
  };
  co_await with_task_group(std::move(body));
}

asio::awaitable<void> parent_cancelled() {
  tut::part("3. cancelling the parent cancels every child, and waits for them");
  // The parent runs as a child of an outer group, so it can be cancelled like any child.
  auto outer = [](TaskGroup group) -> asio::awaitable<void> {
    Child<void> parent = group.spawn(parent_with_group());
    co_await tut::sleep(200ms);
    tut::log("main", "cancel the parent");
    parent.cancel();
    try {
      co_await parent.wait();  // rethrows how it ended
    } catch (const std::system_error&) {
    }
    tut::log("main", "parent ended: {}", parent.cancelled() ? "cancelled" : "not cancelled");
  };
  co_await with_task_group(std::move(outer));
}

// The demo's client: sends this process SIGTERM at `signal_at`, then tries one more job at
// `late_at`. (Times chosen apart from the jobs' ends, so the output order is always the same.)
asio::awaitable<void> client(JobService jobs, milliseconds signal_at, milliseconds late_at) {
  co_await tut::sleep(signal_at);
  tut::log("client", "kill(getpid(), SIGTERM)");
  ::kill(::getpid(), SIGTERM);
  co_await tut::sleep(late_at - signal_at);
  jobs.submit({9, 100ms});
}

std::string list(const std::vector<int>& ids) {
  return ids.empty() ? "none" : fmt::format("{}", fmt::join(ids, ","));
}

asio::awaitable<void> shutdown(const char* title, std::vector<Job> work, milliseconds signal_at,
                               milliseconds late_at, milliseconds grace) {
  tut::part(title);
  JobService jobs(2);
  for (auto job : work) jobs.submit(job);
  asio::co_spawn(co_await asio::this_coro::executor, client(jobs, signal_at, late_at),
                 tut::rethrow);
  Service service = [jobs](TaskGroup tasks, Stop stop) mutable { return jobs.run(tasks, stop); };
  Ending ending = co_await run_service(service, grace);
  auto& ledger = jobs.ledger();
  tut::log("main", "ending: {}, exit code {}; accepted {}, done {}, cancelled {}, rejected {}",
           to_string(ending), exit_code(ending), list(ledger.accepted), list(ledger.done),
           list(ledger.cancelled), list(ledger.rejected));
}

asio::awaitable<void> demo() {
  co_await all_children();
  co_await failures();
  co_await parent_cancelled();
  // Not braced inside co_await (g++ 12).
  std::vector<Job> short_jobs{{1, 300ms}, {2, 400ms}, {3, 300ms}};
  co_await shutdown("4. SIGTERM: every accepted job finishes within the grace period",
                    short_jobs, 100ms, 200ms, 1s);
  std::vector<Job> one_long{{1, 200ms}, {2, 1s}, {3, 200ms}, {4, 300ms}, {5, 300ms}};
  co_await shutdown("5. SIGTERM: the grace period runs out, the rest is cancelled", one_long,
                    300ms, 500ms, 300ms);
}

// --serve: jobs keep coming until a signal; the exit status says how it ended.
asio::awaitable<int> serve(milliseconds grace) {
  JobService jobs(3);
  Service service = [jobs](TaskGroup tasks, Stop stop) mutable {
    auto feed = [](JobService queue) -> asio::awaitable<void> {
      for (int id = 1; queue.submit({id, 700ms}); ++id) co_await tut::sleep(200ms);
    };
    tasks.spawn(feed(jobs));
    return jobs.run(tasks, stop);
  };
  Ending ending = co_await run_service(service, grace);
  tut::log("main", "ending: {}, exit code {}", to_string(ending), exit_code(ending));
  co_return exit_code(ending);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--help") {
    fmt::print("usage: {} [--serve [grace-ms]]\n", argv[0]);
    return 0;
  }
  if (mode == "--serve") {
    auto grace = milliseconds(argc > 2 ? std::stoi(argv[2]) : 1000);
    return tut::run(serve(grace));
  }
  tut::run(demo());
}
