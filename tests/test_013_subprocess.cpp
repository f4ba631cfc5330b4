#include "subprocess.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using lesson013::Command;
using lesson013::Completed;
using lesson013::Limits;
using lesson013::Process;
using tut::test::ContainsSubstring;
using tut::test::run_within;

// Coroutines that finish without ever suspending run under tut::run: they cannot hang, so
// they need no time limit. (run_within would do as well: its handler runs on the io_context.)

namespace {

std::set<int> open_descriptors() {
  std::set<int> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    fds.insert(std::stoi(entry.path().filename().string()));
  return fds;
}

// True when `pid` is no child of ours any more: reaped, no zombie left behind.
bool reaped(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

// Makes this test process the "child subreaper" of its descendants while it lives: a
// grandchild whose parent dies becomes our child instead of init's, so the test can learn
// with waitpid() whether and how it died, and reap it (no zombie left anywhere).
struct AdoptOrphans {
  AdoptOrphans() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~AdoptOrphans() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  AdoptOrphans(const AdoptOrphans&) = delete;
  AdoptOrphans& operator=(const AdoptOrphans&) = delete;
};

// The wait status of `pid`, an orphan adopted by AdoptOrphans, once it has ended; empty if
// it is not our child, or still runs after 10 s (then it is killed, so no test leaves it).
// A poll: it closed our pipes while exiting, and becomes a zombie a moment later.
std::optional<int> end_of_adopted(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    pid_t result = ::waitpid(pid, &status, WNOHANG);
    if (result == pid) return status;
    if (result < 0) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return std::nullopt;
}

// True once nothing runs under `pid` any more (reaped, so not even a zombie).
bool gone(pid_t pid) { return ::kill(pid, 0) < 0 && errno == ESRCH; }

asio::awaitable<lesson013::Output> communicate_exec(std::vector<std::string> argv,
                                                    std::string input) {
  Process process = Process::exec(co_await asio::this_coro::executor, std::move(argv));
  auto talk = process.communicate(std::move(input));
  co_return co_await std::move(talk);
}

}  // namespace

TEST_CASE("communicate() feeds stdin, closes it and collects stdout, stderr and the exit") {
  std::vector<std::string> argv{"sh", "-c", "cat; echo to-stderr >&2; exit 5"};
  auto output = run_within(communicate_exec(argv, "line one\nline two\n"));
  CHECK(output.out == "line one\nline two\n");  // cat saw EOF, so stdin was closed
  CHECK(output.err == "to-stderr\n");
  CHECK(output.returncode == 5);
}

TEST_CASE("create_subprocess_shell runs the command through /bin/sh") {
  auto output = run_within([]() -> asio::awaitable<lesson013::Output> {
    Process process = Process::shell(co_await asio::this_coro::executor, "echo $((6 * 7))");
    co_return co_await process.communicate();
  }());
  CHECK(output.out == "42\n");
  CHECK(output.returncode == 0);
}

TEST_CASE("a child killed by a signal reports minus the signal number") {
  auto returncode = run_within([]() -> asio::awaitable<int> {
    std::vector<std::string> argv{"sleep", "5"};
    Process process = Process::exec(co_await asio::this_coro::executor, argv);
    CHECK_FALSE(process.returncode().has_value());
    process.terminate();
    int code = co_await process.wait();
    CHECK(process.returncode() == code);
    co_return code;
  }());
  CHECK(returncode == -SIGTERM);
  CHECK(lesson013::describe(returncode) == "killed by signal 15 (SIGTERM)");
  CHECK(lesson013::describe(3) == "exit code 3");
}

TEST_CASE("megabytes on stdout and stderr at once do not deadlock") {
  std::vector<std::string> argv{
      "sh", "-c", "head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2; echo end >&2"};
  // A deadlock waits for ever; 45 s (under CTest's 60) tells one from 10 MB through pipes under
  // ThreadSanitizer on a loaded machine, which once took 12.7 s.
  auto output = run_within(communicate_exec(argv, ""), std::chrono::seconds(45));
  CHECK(output.out.size() == 5000000);
  CHECK(output.err.size() == 5000004);
  CHECK(output.returncode == 0);
}

TEST_CASE("megabytes in and out at once do not deadlock either") {
  std::string input(5000000, 'x');
  for (std::size_t i = 0; i < input.size(); i += 1000) input[i] = static_cast<char>('a' + i % 26);
  std::vector<std::string> argv{"cat"};
  auto output = run_within(communicate_exec(argv, input), std::chrono::seconds(45));
  CHECK(output.out == input);  // cat writes back while we are still writing to it
}

TEST_CASE("a child that exits without reading its input is not an error (EPIPE ignored)") {
  std::vector<std::string> argv{"sh", "-c", "exec 0<&-; echo gone"};
  auto output = run_within(communicate_exec(argv, std::string(1000000, 'x')));
  CHECK(output.out == "gone\n");
  CHECK(output.returncode == 0);
}

TEST_CASE("a program that does not exist is a clear error, and leaves nothing behind") {
  auto before = open_descriptors();
  auto attempt = []() -> asio::awaitable<void> {
    std::vector<std::string> argv{"no-such-program-013", "--flag"};
    Process process = Process::exec(co_await asio::this_coro::executor, argv);
  };
  try {
    tut::run(attempt());
    FAIL("spawning a missing program did not throw");
  } catch (const std::system_error& error) {
    CHECK(error.code() == std::errc::no_such_file_or_directory);
    CHECK_THAT(error.what(), ContainsSubstring("cannot run 'no-such-program-013'"));
  }
  CHECK(open_descriptors() == before);  // the six pipe ends were closed
  CHECK(reaped(-1));                    // and no child exists at all
}

TEST_CASE("a file that is not executable is reported as such") {
  auto attempt = []() -> asio::awaitable<void> {
    std::vector<std::string> argv{"/etc/passwd"};
    Process process = Process::exec(co_await asio::this_coro::executor, argv);
  };
  try {
    tut::run(attempt());
    FAIL("spawning a non-executable file did not throw");
  } catch (const std::system_error& error) {
    CHECK(error.code() == std::errc::permission_denied);
    CHECK_THAT(error.what(), ContainsSubstring("cannot run '/etc/passwd'"));
  }
}

TEST_CASE("the child inherits only descriptors 0, 1 and 2") {
  // A descriptor opened WITHOUT O_CLOEXEC, as careless code might: still not inherited.
  int careless = ::open("/dev/null", O_RDONLY);
  REQUIRE(careless > 2);
  // The shell lists its own open descriptors; the glob's directory handle is closed again
  // by the time `[ -e ]` runs, so it does not show up.
  std::vector<std::string> argv{
      "sh", "-c", "for f in /proc/self/fd/*; do [ -e \"$f\" ] && echo ${f##*/}; done"};
  auto output = run_within(communicate_exec(argv, ""));
  ::close(careless);
  CHECK(output.out == "0\n1\n2\n");
}

TEST_CASE("no descriptor leaks and no zombie after many runs") {
  auto before = open_descriptors();
  std::vector<Command> commands;
  for (int i = 0; i < 6; ++i)
    commands.push_back({"echo", {"sh", "-c", "echo hi; echo ho >&2"}, "input"});
  commands.push_back({"killed", {"sleep", "5"}, "", {50ms, 50ms}});
  commands.push_back({"missing", {"no-such-program-013"}});
  auto results = run_within(lesson013::run_all(commands, 3));
  CHECK(open_descriptors() == before);
  for (const auto& result : results) {
    if (result.error.empty()) CHECK(reaped(result.pid));
  }
  CHECK(reaped(-1));
}

TEST_CASE("a Process destroyed while its child runs kills and reaps it") {
  pid_t pid = tut::run([]() -> asio::awaitable<pid_t> {
    std::vector<std::string> argv{"sleep", "5"};
    Process process = Process::exec(co_await asio::this_coro::executor, argv);
    co_return process.pid();
  }());
  CHECK(reaped(pid));
}

TEST_CASE("wait() does not block the io_context") {
  auto ticks = run_within([]() -> asio::awaitable<int> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<std::string> argv{"sleep", "0.2"};
    Process process = Process::exec(executor, argv);
    int count = 0;
    auto ticker = [](int* counter) -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      for (;;) {
        timer.expires_after(10ms);
        co_await timer.async_wait(asio::use_awaitable);
        ++*counter;
      }
    };
    auto waiting = process.wait();
    auto ticking = ticker(&count);
    auto result = co_await (std::move(waiting) || std::move(ticking));
    CHECK(std::get<0>(result) == 0);
    co_return count;
  }());
  CHECK(ticks >= 1);  // the ticker ran while we waited; a blocking waitpid would give 0
}

TEST_CASE("a child's exit is awaited with no SIGCHLD handler and no extra thread") {
  // asyncio 3.11 starts a thread per child (ThreadedChildWatcher); a pidfd needs neither that
  // nor the process-wide SIGCHLD handler of the old child watchers.
  auto threads = [] {
    auto entries = std::filesystem::directory_iterator("/proc/self/task");
    return std::distance(begin(entries), end(entries));
  };
  auto before = threads();
  auto seen = run_within([&]() -> asio::awaitable<std::pair<long, bool>> {
    std::vector<std::string> argv{"sh", "-c", "read line"};  // runs until its stdin closes
    Process process = Process::exec(co_await asio::this_coro::executor, argv);
    // A named lambda: it must outlive the coroutine it makes, which uses its captures.
    auto look = [&]() -> asio::awaitable<std::pair<long, bool>> {
      struct sigaction action {};  // && started wait() first: it is pending now
      ::sigaction(SIGCHLD, nullptr, &action);
      std::pair<long, bool> result{threads(), action.sa_handler == SIG_DFL};
      process.stdin_pipe().close();  // now the child may end
      co_return result;
    };
    auto waiting = process.wait();
    auto looking = look();
    auto both = co_await (std::move(waiting) && std::move(looking));
    co_return std::get<1>(both);
  }());
  CHECK(seen.first == before);
  CHECK(seen.second);
}

TEST_CASE("cancelling communicate() leaves the child running, and kill() with wait() reaps it") {
  pid_t pid = run_within([]() -> asio::awaitable<pid_t> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<std::string> argv{"sh", "-c", "echo started; exec sleep 5"};
    Process process = Process::exec(executor, argv);
    asio::steady_timer timer(executor, 30ms);
    auto talk = process.communicate();
    auto sleep = timer.async_wait(asio::use_awaitable);
    auto first = co_await (std::move(talk) || std::move(sleep));
    CHECK(first.index() == 1);
    CHECK_FALSE(process.returncode().has_value());
    process.kill();
    CHECK(co_await process.wait() == -SIGKILL);
    process.kill();  // after reaping: a harmless no-op, never a signal to a stranger
    co_return process.pid();
  }());
  CHECK(reaped(pid));
}

TEST_CASE("run(): a timeout sends SIGTERM and keeps the output written before it") {
  auto start = tut::clock::now();
  Command command{"slow", {"sh", "-c", "echo partial; echo oops >&2; exec sleep 5"}, "",
                  {300ms, 1000ms}};
  auto result = run_within(lesson013::run(command), 4s);
  CHECK(tut::clock::now() - start >= 300ms);
  CHECK(result.timed_out);
  CHECK(result.returncode == -SIGTERM);
  CHECK(result.out == "partial\n");
  CHECK(result.err == "oops\n");
  CHECK(reaped(result.pid));
}

TEST_CASE("run(): a child that ignores SIGTERM gets SIGKILL after the grace period") {
  auto start = tut::clock::now();
  // 300 ms is ample for the shell to install its trap before the SIGTERM comes.
  Command command{"stubborn", {"sh", "-c", "trap '' TERM; exec sleep 5"}, "", {300ms, 50ms}};
  auto result = run_within(lesson013::run(command), 4s);
  CHECK(tut::clock::now() - start >= 350ms);
  CHECK(result.timed_out);
  CHECK(result.returncode == -SIGKILL);
  CHECK(reaped(result.pid));
}

TEST_CASE("run(): a timeout ends the child's whole process group, grandchildren included") {
  AdoptOrphans adopt;
  auto before = open_descriptors();
  // No exec: sleep is the shell's child and holds the shell's pipes. Signalling the shell
  // alone left sleep holding them, and run() waited for it: 30 s. 15 s is a generous bound
  // for a run that takes 0.3 s.
  Command command{"family", {"sh", "-c", "sleep 30 & echo $!; wait"}, "", {300ms, 200ms}};
  auto result = run_within(lesson013::run(command), 15s);
  CHECK(result.timed_out);
  CHECK(result.returncode == -SIGTERM);
  pid_t grandchild = std::stoi(result.out);
  auto status = end_of_adopted(grandchild);
  REQUIRE(status.has_value());
  CHECK(WIFSIGNALED(*status));
  CHECK(WTERMSIG(*status) == SIGTERM);
  CHECK(gone(grandchild));
  CHECK(reaped(result.pid));
  CHECK(reaped(-1));
  CHECK(open_descriptors() == before);
}

TEST_CASE("run(): a grandchild that ignores SIGTERM gets SIGKILL even after its parent died") {
  AdoptOrphans adopt;
  // sleep is born ignoring SIGTERM; the shell takes the default back and dies of SIGTERM.
  // Only the pipes, still open, tell that someone is left.
  Command command{"orphan",
                  {"sh", "-c", "trap '' TERM; sleep 30 & trap - TERM; echo $!; wait"},
                  "",
                  {300ms, 100ms}};
  auto result = run_within(lesson013::run(command), 15s);
  CHECK(result.timed_out);
  CHECK(result.returncode == -SIGTERM);
  pid_t grandchild = std::stoi(result.out);
  auto status = end_of_adopted(grandchild);
  REQUIRE(status.has_value());
  CHECK(WIFSIGNALED(*status));
  CHECK(WTERMSIG(*status) == SIGKILL);
  CHECK(gone(grandchild));
  CHECK(reaped(-1));
}

TEST_CASE("a Process destroyed while its child runs kills the child's whole process group") {
  AdoptOrphans adopt;
  pid_t grandchild = run_within([]() -> asio::awaitable<pid_t> {
    auto executor = co_await asio::this_coro::executor;
    Process process = Process::shell(executor, "sleep 30 & echo $!; wait");
    std::string line;
    co_await asio::async_read_until(process.stdout_pipe(), asio::dynamic_buffer(line), '\n',
                                    asio::use_awaitable);
    co_return std::stoi(line);
  }());
  auto status = end_of_adopted(grandchild);
  REQUIRE(status.has_value());
  CHECK(WIFSIGNALED(*status));
  CHECK(WTERMSIG(*status) == SIGKILL);
  CHECK(reaped(-1));
}

TEST_CASE("a SIGPIPE handler the program installed stays in place") {
  // Process ignores SIGPIPE for the whole program, but only while it has its default action.
  struct sigaction own {};
  own.sa_handler = [](int) {};
  sigemptyset(&own.sa_mask);
  struct sigaction saved {};
  REQUIRE(::sigaction(SIGPIPE, &own, &saved) == 0);
  tut::run([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<std::string> argv{"true"};
    Process process = Process::exec(executor, argv);
    co_await process.wait();
  }());
  struct sigaction after {};
  ::sigaction(SIGPIPE, &saved, &after);  // restores what was there before the test
  bool kept = after.sa_handler == own.sa_handler;
  CHECK(kept);
}

TEST_CASE("run(): a quick child is not timed out") {
  Command command{"quick", {"printf", "%s-%s", "a", "b"}, "", {5000ms, 50ms}};
  auto result = run_within(lesson013::run(command));
  CHECK_FALSE(result.timed_out);
  CHECK(result.returncode == 0);
  CHECK(result.out == "a-b");
}

TEST_CASE("run_all runs children concurrently, never more than the limit") {
  std::vector<Command> commands;
  for (int i = 0; i < 5; ++i)
    commands.push_back({"s" + std::to_string(i), {"sh", "-c", "sleep 0.1; echo $0", "n" + std::to_string(i)}});
  commands.insert(commands.begin() + 2, Command{"missing", {"no-such-program-013"}});
  auto results = run_within(lesson013::run_all(commands, 2));

  REQUIRE(results.size() == 6);
  CHECK(results[2].name == "missing");
  CHECK_THAT(results[2].error, ContainsSubstring("No such file or directory"));
  int index = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == 2) continue;
    CHECK(results[i].error.empty());
    CHECK(results[i].out == "n" + std::to_string(index++) + "\n");  // results in input order
  }
  // The most children alive at one moment: the maximum overlap of [started, finished].
  std::size_t most = 0;
  for (const auto& a : results) {
    if (!a.error.empty()) continue;
    std::size_t alive = 0;
    for (const auto& b : results)
      if (b.error.empty() && b.started <= a.started && a.started < b.finished) ++alive;
    most = std::max(most, alive);
  }
  CHECK(most == 2);  // two at once (each sleeps 100 ms), never three
}

TEST_CASE("run_all rejects a limit of 0") {
  std::vector<Command> commands{{"x", {"true"}}};
  CHECK_THROWS_AS(tut::run(lesson013::run_all(commands, 0)), std::invalid_argument);
}
