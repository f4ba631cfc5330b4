// Lesson 013: subprocesses. The core the demo and the tests call: Process, then run() and
// run_all(), which use it. asyncio counterpart: asyncio.create_subprocess_exec /
// create_subprocess_shell and the Process object (wait, communicate, send_signal, terminate,
// kill, returncode).
//
// Where C++ differs from asyncio, and why:
// - Spawning is synchronous: Process::exec() returns once the program runs, or throws.
// - All three standard streams are always pipes (asyncio's stdin=PIPE, stdout=PIPE,
//   stderr=PIPE); the child inherits no other descriptor (Python's close_fds=True).
// - Linux only: the exit is watched through a pidfd (Linux >= 5.3) on the loop's own thread
//   (how_it_is_built.cpp explains the choice; asyncio 3.12 does the same).
// - The child leads a process group of its own (asyncio's process_group=0), so run()'s
//   timeout can stop it together with what it started: a shell's commands inherit its pipes,
//   and killing the shell alone would leave them holding the pipes open.
// - Destroying a Process whose child still runs kills it and its group (SIGKILL) and reaps it
//   at once: no zombie is ever left behind.
// - Side effect: creating a Process sets SIGPIPE to "ignore" for the whole program, if it still
//   has its default action (a write to a child that has gone is then an EPIPE error, not the
//   death of the program). Python does the same at startup. The children get the default back.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/readable_pipe.hpp>
#include <asio/writable_pipe.hpp>

#include "log.hpp"

namespace lesson013 {

using std::chrono::milliseconds;

/// asyncio's returncode as words: "exit code 3" for 3, "killed by signal 15 (SIGTERM)" for -15.
std::string describe(int returncode);

/// What communicate() collects: everything the child wrote, and how it ended.
struct Output {
  std::string out;
  std::string err;
  int returncode = 0;
};

/// One running child with its three standard streams connected to pipes (how_it_is_built.cpp
/// starts, reaps and signals it). Not copyable or movable: its coroutines refer to it.
class Process {
 public:
  /// asyncio.create_subprocess_exec(*argv, stdin=PIPE, stdout=PIPE, stderr=PIPE).
  /// argv[0] is searched in PATH. Throws std::system_error if the program cannot be run
  /// ("cannot run 'nope': No such file or directory", code ENOENT; EACCES if not executable).
  static Process exec(asio::any_io_executor executor, std::vector<std::string> argv);
  /// asyncio.create_subprocess_shell(command): runs /bin/sh -c command.
  static Process shell(asio::any_io_executor executor, std::string command);

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Kills (SIGKILL) and reaps a child that is still running: no zombie survives us.
  ~Process();

  pid_t pid() const { return pid_; }
  /// Process.returncode: empty while running, the exit code, or -N if killed by signal N.
  std::optional<int> returncode() const { return returncode_; }

  /// The parent's ends of the child's stdin, stdout and stderr, for talking to it directly.
  asio::writable_pipe& stdin_pipe() { return stdin_; }
  asio::readable_pipe& stdout_pipe() { return stdout_; }
  asio::readable_pipe& stderr_pipe() { return stderr_; }

  /// Process.wait(): suspends until the child exits, reaps it and returns its returncode.
  /// Does not block the io_context. Cancelling it leaves the child running.
  asio::awaitable<int> wait();
  /// Process.communicate(input): writes `input` to stdin and closes it, reads stdout and
  /// stderr to the end, all at the same time, then waits for the exit. Reading both streams
  /// concurrently is what keeps a child that fills both pipes from deadlocking with us.
  /// Like asyncio's, it ends only when every process holding the pipes (the child and what it
  /// started) has closed them.
  asio::awaitable<Output> communicate(std::string input = {});

  /// Process.send_signal / terminate (SIGTERM) / kill (SIGKILL). No-op once reaped.
  void send_signal(int signal);
  void terminate();
  void kill();
  /// os.killpg(proc.pid, signal): signals the child's whole process group, the child and
  /// everything it started that stayed in the group. No-op once the child is reaped.
  void signal_group(int signal);

 private:
  Process(asio::any_io_executor executor, std::vector<std::string> argv);
  bool try_reap();  // waitpid without blocking; true (and returncode_ set) once reaped

  pid_t pid_ = -1;
  std::optional<int> returncode_;
  asio::writable_pipe stdin_;
  asio::readable_pipe stdout_;
  asio::readable_pipe stderr_;
  asio::posix::stream_descriptor exit_event_;  // the pidfd: readable once the child exits
};

/// How long a command may run, and how long it gets to exit after SIGTERM before SIGKILL.
struct Limits {
  milliseconds timeout{1000};
  milliseconds grace{200};
};

/// A command to run: a name for the log, its argv, the text to feed its stdin, its limits.
struct Command {
  std::string name;
  std::vector<std::string> argv;
  std::string input = {};
  Limits limits = {};
};

/// The result of run(), like Python's subprocess.CompletedProcess.
struct Completed {
  std::string name;
  pid_t pid = -1;
  int returncode = 0;
  std::string out;
  std::string err;
  bool timed_out = false;  // we had to send SIGTERM (and maybe SIGKILL)
  std::string error;       // run_all only: why it could not start ("cannot run ...")
  tut::clock::time_point started{};
  tut::clock::time_point finished{};
};

/// Runs one command to completion: feeds its input, collects its output and its returncode.
/// If communicate() has not finished after command.limits.timeout, it sends SIGTERM to the
/// child's process group, and SIGKILL to the group if it is still not finished
/// command.limits.grace later; the output written before that is kept. Logs under
/// command.name. Throws std::system_error if the program cannot be run. (A process that left
/// the group, as a daemon does with setsid(), is out of reach and can keep run() waiting.)
asio::awaitable<Completed> run(Command command);

/// Runs all commands, at most `limit` at a time, and returns their results in the order of
/// `commands`. A command that cannot start does not stop the others: its Completed::error
/// says why (asyncio.gather(..., return_exceptions=True)). Throws std::invalid_argument if
/// limit is 0.
asio::awaitable<std::vector<Completed>> run_all(std::vector<Command> commands,
                                                std::size_t limit);

}  // namespace lesson013
