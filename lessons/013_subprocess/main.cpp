// Lesson 013 demo: talk to a child through pipes, then run a batch of children at once, with
// a concurrency limit, a timeout that escalates from SIGTERM to SIGKILL, and a program that
// does not exist.
#include <cerrno>
#include <filesystem>

#include <sys/wait.h>

#include <asio/this_coro.hpp>

#include "log.hpp"
#include "run.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
using lesson013::Command;
using lesson013::Process;

namespace {

std::size_t open_descriptors() {
  auto entries = std::filesystem::directory_iterator("/proc/self/fd");
  return static_cast<std::size_t>(std::distance(begin(entries), end(entries)));
}

}  // namespace

// Not in the anonymous namespace: g++ 12 would inline this coroutine into main() and, under
// -O1 with sanitizers, warn falsely about its frame's allocation (-Wmismatched-new-delete).
asio::awaitable<void> demo() {
  auto executor = co_await asio::this_coro::executor;

  tut::log("main", "communicate(): write stdin and close it, read stdout and stderr");
  {
    Process tr = Process::exec(executor, {"tr", "a-z", "A-Z"});
    auto talk = tr.communicate("hello from the parent\n");  // built first: g++ 12 and temporaries
    auto output = co_await std::move(talk);
    tut::log("tr", "{}, stdout {:?}", lesson013::describe(output.returncode), output.out);
  }
  {
    // 1 MB to each stream: far more than a pipe holds (64 KiB). Only reading both at once finishes.
    Process noisy = Process::shell(
        executor, "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; exit 4");
    auto output = co_await noisy.communicate();
    tut::log("noisy", "{}, {} bytes on stdout and {} on stderr, read concurrently",
             lesson013::describe(output.returncode), output.out.size(), output.err.size());
  }
  auto descriptors_before = open_descriptors();  // (the event loop's own are open by now)

  tut::reset_clock();
  tut::log("main", "5 commands, at most 3 at once");
  std::vector<Command> commands{
      {"c", {"sleep", "5"}, "", {1000ms, 200ms}},
      // No exec: sleep is the shell's child, and holds its pipes. Both ignore SIGTERM.
      {"e", {"sh", "-c", "trap '' TERM; sleep 5"}, "", {1200ms, 200ms}},
      {"d", {"no-such-program", "--help"}},
      {"b", {"sh", "-c", "sleep 0.1; echo b: failing >&2; exit 3"}},
      {"a", {"sh", "-c", "echo a: working; sleep 0.1; echo a: done"}},
  };
  auto results = co_await lesson013::run_all(std::move(commands), 3);

  tut::log("main", "in the order given, after {}:", tut::seconds(tut::elapsed()));
  for (const auto& result : results) {
    if (!result.error.empty()) {
      tut::log("main", "  {}: did not start ({})", result.name, result.error);
    } else {
      tut::log("main", "  {}: returncode {:3}{}", result.name, result.returncode,
               result.timed_out ? " (timed out)" : "");
    }
  }

  // The bookkeeping that must come out even: every child reaped, every descriptor closed.
  bool no_children = ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
  tut::log("main", "zombies left: {}; descriptors leaked: {}", no_children ? "none" : "SOME",
           open_descriptors() - descriptors_before);
}

int main() { tut::run(demo()); }
