// tut::test::Program (tests/support/program.hpp), the one way a test starts a child process:
// its output, its environment, signals, the exit limit, and that no child outlives the object.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include "program.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using tut::test::Program;

TEST_CASE("Program reads stdout until a text, and returns the exit code", "[program]") {
  Program::Options options;
  options.environment = {"TUT_EXTRA=extra"};
  Program program({"/bin/sh", "-c", "echo first; echo \"second $TUT_EXTRA\"; exit 3"}, options);
  CHECK(program.read_until("second", 10s));
  const tut::test::Exit exit = program.wait(10s);
  CHECK(exit.code == 3);
  CHECK(exit.signal == 0);
  CHECK_FALSE(exit.timed_out);
  CHECK(program.output() == "first\nsecond extra\n");
  CHECK_FALSE(program.running());
}

TEST_CASE("Program: wait() collects what it wrote just before it ended", "[program]") {
  Program program({"/bin/sh", "-c", "echo last words"});
  // Ended (not reaped) before wait() looks: its whole output is still in the pipe.
  for (int tries = 0; tries < 1000 && program.running(); ++tries)
    std::this_thread::sleep_for(10ms);
  const tut::test::Exit exit = program.wait(10s);
  CHECK(exit.code == 0);
  CHECK(program.output() == "last words\n");
}

TEST_CASE("Program: a signal ends it, and the limit kills what does not end", "[program]") {
  Program stopped({"/bin/sh", "-c", "echo ready; exec sleep 30"});
  REQUIRE(stopped.read_until("ready", 10s));
  stopped.signal(SIGTERM);
  const tut::test::Exit by_signal = stopped.wait(10s);
  CHECK(by_signal.code == -1);
  CHECK(by_signal.signal == SIGTERM);
  Program stubborn({"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"});
  REQUIRE(stubborn.read_until("ready", 10s));
  stubborn.signal(SIGTERM);
  const tut::test::Exit killed = stubborn.wait(300ms);
  CHECK(killed.timed_out);
  CHECK(killed.signal == SIGKILL);
}

TEST_CASE("Program: stderr to a file, its own process group, a name on PATH", "[program]") {
  const auto log = std::filesystem::temp_directory_path() /
                   ("test_program_" + std::to_string(::getpid()) + ".log");
  Program::Options options;
  options.err = Program::Stderr::file;
  options.err_file = log.string();
  options.own_process_group = true;
  Program program({"sh", "-c", "echo to-stderr >&2; cut -d\" \" -f5 /proc/$$/stat"}, options);
  CHECK(program.wait(10s).code == 0);
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  std::filesystem::remove(log);
  CHECK(text.str() == "to-stderr\n");
  CHECK(std::stoi(program.output()) == program.pid());  // the group's id is its own
}

// True once process `pid` has ended: gone, or a zombie its new parent has not reaped yet.
bool ended(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text;
  std::getline(stat, text);
  const auto state = text.rfind(") ");
  return !stat || state == std::string::npos || text.substr(state + 2, 1) == "Z";
}

TEST_CASE("Program: the destructor kills and reaps a child still running", "[program]") {
  pid_t pid = -1;
  std::string grandchild;
  {
    Program::Options options;
    options.own_process_group = true;
    Program program({"/bin/sh", "-c", "sleep 30 & echo \"ready $!\"; wait"}, options);
    REQUIRE(program.read_until("\n", 10s));
    pid = program.pid();
    grandchild = program.output().substr(6, program.output().size() - 7);
  }
  // Reaped: no such process any more, not even a zombie (kill() would succeed on one).
  CHECK(::kill(pid, 0) == -1);
  CHECK(errno == ESRCH);
  // Its group was killed too: the backgrounded sleep ends as well.
  bool gone = false;
  for (int tries = 0; tries < 500 && !gone; ++tries) {
    gone = ended(grandchild);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  CHECK(gone);
}

TEST_CASE("Program: a program that does not exist throws", "[program]") {
  CHECK_THROWS_AS(Program({"/nonexistent/program"}), std::system_error);
}

TEST_CASE("Program: running() only looks, so wait() still gets the exit code", "[program]") {
  Program::Options options;
  options.out = Program::Stdout::null;
  Program program({"/bin/sh", "-c", "exit 7"}, options);
  bool ended = false;
  for (int tries = 0; tries < 1000 && !ended; ++tries) {
    ended = !program.running();
    if (!ended) std::this_thread::sleep_for(10ms);
  }
  REQUIRE(ended);
  CHECK_FALSE(program.running());  // asked again: still ended, still not reaped
  const tut::test::Exit exit = program.wait(10s);  // a reaping running() would leave ECHILD
  CHECK_FALSE(exit.timed_out);
  CHECK(exit.code == 7);
}

TEST_CASE("Program: stdin, stdout and stderr from descriptors of ours (TempFile)", "[program]") {
  tut::test::TempFile in, out, err;
  const std::string input = "from our file\n";
  REQUIRE(::write(in.fd(), input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  REQUIRE(::lseek(in.fd(), 0, SEEK_SET) == 0);
  Program::Options options;
  options.in = in.fd();
  options.out = Program::Stdout::descriptor;
  options.out_fd = out.fd();
  options.err = Program::Stderr::descriptor;
  options.err_fd = err.fd();
  Program program({"/bin/sh", "-c", "cat; echo oops >&2"}, options);
  CHECK(program.wait(10s).code == 0);
  CHECK(out.contents() == input);
  CHECK(err.contents() == "oops\n");
  CHECK(program.output().empty());  // nothing came through a pipe of ours
}

TEST_CASE("Program: a small stdout pipe fills up; close_stdout() as `| head -n 1` does",
          "[program]") {
  Program::Options options;
  options.pipe_size = 4096;  // one page: a writer nobody reads blocks after 4 KiB
  Program program({"/bin/sh", "-c", "echo ready; exec head -c 65536 /dev/zero"}, options);
  REQUIRE(program.read_until("ready", 10s));
  std::this_thread::sleep_for(200ms);
  CHECK(program.running());  // blocked on the full pipe
  program.close_stdout();    // its blocked write fails: SIGPIPE (or EPIPE) ends head
  const tut::test::Exit exit = program.wait(10s);
  CHECK_FALSE(exit.timed_out);
  CHECK((exit.signal == SIGPIPE || exit.code != 0));
  CHECK(program.output().substr(0, 6) == "ready\n");
}
