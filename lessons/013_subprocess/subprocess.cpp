// Lesson 013: subprocesses.
//
// A child process is three pipes and an exit status. The pipes are ordinary descriptors that
// Asio reads and writes like sockets (asio::readable_pipe / writable_pipe). The exit status
// needs a way to learn "the child has exited" without blocking the event loop:
//
// - SIGCHLD with asio::signal_set: one process-wide signal for all children; signals merge
//   (three exits can arrive as one SIGCHLD), so every delivery means "waitpid() everyone,
//   without blocking", and it fights any other library that also handles SIGCHLD.
// - a pidfd (pidfd_open, Linux >= 5.3): a descriptor for *one* process that becomes
//   readable when it exits. Wrapped in a stream_descriptor, async_wait(wait_read) is "await
//   this child's exit": no global state, no signal handler, works with many event loops.
//
// This lesson uses the pidfd. Like every descriptor we create, it is close-on-exec.
// asyncio installs no SIGCHLD handler by default either: 3.11 starts a thread per child that
// blocks in waitpid() (ThreadedChildWatcher), 3.12 polls a pidfd where the kernel has one.
#include "subprocess.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"

extern char** environ;  // the environment the children inherit

namespace lesson013 {

using namespace asio::experimental::awaitable_operators;

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A descriptor that closes itself, so that no error path can leak one.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

struct Pipe {
  Fd read_end;
  Fd write_end;
};

Pipe make_pipe() {
  int fds[2];
  // O_CLOEXEC from the start: a child spawned by another thread between pipe() and a later
  // fcntl() would otherwise inherit the descriptor and keep the pipe open (no EOF, ever).
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// The two posix_spawn parameter objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

int pidfd_open(pid_t pid) {
  // Called through syscall(): glibc only has a wrapper since 2.36.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Reads a pipe until the child closes its end (EOF), then closes ours.
// By reference: the pipe belongs to the Process, which outlives every call (communicate()
// awaits this coroutine).
asio::awaitable<std::string> read_to_end(asio::readable_pipe& pipe) {
  std::string data;
  auto [error, size] = co_await asio::async_read(pipe, asio::dynamic_buffer(data),
                                                 compat::as_tuple(asio::use_awaitable));
  (void)size;
  if (error && error != asio::error::eof) throw std::system_error(error, "reading from child");
  pipe.close();
  co_return data;
}

// Writes `input` to the child's stdin and closes it, so the child sees EOF.
asio::awaitable<void> feed(asio::writable_pipe& pipe, std::string input) {
  if (!input.empty()) {
    auto [error, size] = co_await asio::async_write(pipe, asio::buffer(input),
                                                    compat::as_tuple(asio::use_awaitable));
    (void)size;
    // Like asyncio's communicate(): a child may exit without reading all its input; that
    // is not our error (EPIPE). Any other failure is.
    if (error && error != asio::error::broken_pipe)
      throw std::system_error(error, "writing to child");
  }
  pipe.close();
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\"'$;&|<>*?") == std::string::npos;
    const char* quote = arg.find('\'') == std::string::npos ? "'" : "\"";
    line += plain ? arg : quote + arg + quote;
  }
  return line;
}

}  // namespace

std::string describe(int returncode) {
  if (returncode >= 0) return fmt::format("exit code {}", returncode);
  const char* name = ::sigabbrev_np(-returncode);
  return fmt::format("killed by signal {} (SIG{})", -returncode, name ? name : "?");
}

Process Process::exec(asio::any_io_executor executor, std::vector<std::string> argv) {
  return Process(std::move(executor), std::move(argv));
}

Process Process::shell(asio::any_io_executor executor, std::string command) {
  std::vector<std::string> argv{"/bin/sh", "-c", std::move(command)};
  return Process(std::move(executor), std::move(argv));
}

Process::Process(asio::any_io_executor executor, std::vector<std::string> argv)
    : stdin_(executor), stdout_(executor), stderr_(executor), exit_event_(executor) {
  if (argv.empty()) throw std::invalid_argument("Process: empty command line");

  // Writing to a pipe whose reader has gone raises SIGPIPE, which kills the writer by
  // default. We want an EPIPE error instead (handled in feed()). Python ignores SIGPIPE at
  // startup for the same reason. The setting is process-wide (subprocess.hpp says so), so
  // only the default is replaced: a handler the program installed also prevents the death.
  struct sigaction current {};
  ::sigaction(SIGPIPE, nullptr, &current);
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);

  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();

  SpawnSetup setup;
  // In the child, before exec: its ends of the pipes become 0, 1 and 2 (dup2 clears
  // close-on-exec on the copies), then every other descriptor is closed, even one that
  // some library opened without O_CLOEXEC (Python's close_fds=True).
  posix_spawn_file_actions_adddup2(&setup.actions, in.read_end.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out.write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err.write_end.get(), STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3);
  // An ignored SIGPIPE would survive exec; give the child the default back, and an empty
  // signal mask (Python's restore_signals=True).
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
  posix_spawnattr_setsigmask(&setup.attributes, &empty_mask);
  // The child leads a new process group, whose id is its pid, and what it starts (a shell's
  // commands) joins that group: signal_group() then reaches them all. Python:
  // process_group=0. (The terminal's Ctrl-C no longer reaches the child: we decide.)
  posix_spawnattr_setpgroup(&setup.attributes, 0);
  posix_spawnattr_setflags(&setup.attributes,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);

  // posix_spawn rather than fork+exec: glibc starts the child with vfork semantics and
  // returns only once exec has succeeded or failed, and it returns exec's error (ENOENT,
  // EACCES) itself, so no error pipe is needed. It also runs no code of ours in the child,
  // which keeps sanitizers and multi-threaded programs safe.
  int error = ::posix_spawnp(&pid_, args[0], &setup.actions, &setup.attributes, args.data(),
                             environ);
  if (error != 0)
    throw std::system_error(error, std::generic_category(), "cannot run '" + argv[0] + "'");

  try {
    // Until we reap it the child stays a zombie at worst, so its pid cannot be reused and
    // pidfd_open() cannot pick up a stranger.
    int pidfd = pidfd_open(pid_);
    if (pidfd < 0) throw_errno("pidfd_open");
    exit_event_.assign(pidfd);
    // The parent keeps its ends; the child's ends close here (Fd destructors). That matters:
    // while the parent holds a write end of the stdout pipe, reading it never reaches EOF.
    stdin_.assign(in.write_end.release());
    stdout_.assign(out.read_end.release());
    stderr_.assign(err.read_end.release());
  } catch (...) {
    // The destructor does not run for a half-made object: reap the child here.
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw;
  }
}

Process::~Process() {
  if (pid_ > 0 && !returncode_) {
    // Nobody waited for it: kill it, with everything in its group, and reap it now. SIGKILL
    // cannot be ignored, so this blocking waitpid() returns almost at once.
    ::killpg(pid_, SIGKILL);  // what signal_group() does, without throwing from a destructor
    ::kill(pid_, SIGKILL);    // in case the child left its group
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

bool Process::try_reap() {
  if (returncode_) return true;
  int status = 0;
  pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
  if (reaped == 0) return false;  // still running
  if (reaped < 0) throw_errno("waitpid");
  // asyncio's convention: the exit code, or minus the number of the signal that killed it.
  returncode_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return true;
}

asio::awaitable<int> Process::wait() {
  while (!try_reap()) {
    // The pidfd becomes readable when the child exits; the io_context runs other work
    // meanwhile. Several wait() calls may be pending at once: all wake, one reaps.
    co_await exit_event_.async_wait(asio::posix::stream_descriptor::wait_read,
                                    asio::use_awaitable);
  }
  co_return *returncode_;
}

asio::awaitable<Output> Process::communicate(std::string input) {
  // Three things at once. Done one after the other, a child that writes more than a pipe
  // holds (64 KiB) to stderr while we wait for stdout's EOF would block forever, and so
  // would we. `&&` waits for all three; if one fails the others are cancelled.
  auto feeding = feed(stdin_, std::move(input));
  auto streams = std::move(feeding) && read_to_end(stdout_) && read_to_end(stderr_);
  auto [out, err] = co_await std::move(streams);
  // Then the exit, as asyncio does. Not earlier: while the pipes are open the child stays
  // unreaped (a zombie at worst), which keeps its pid, the id of its process group, from
  // being reused, so signal_group() cannot reach a stranger.
  int returncode = co_await wait();
  co_return Output{std::move(out), std::move(err), returncode};
}

void Process::send_signal(int signal) {
  if (returncode_) return;  // reaped: the pid may already belong to someone else
  // pidfd_send_signal targets exactly our child, even if something else reaped it.
  if (::syscall(SYS_pidfd_send_signal, exit_event_.native_handle(), signal, nullptr, 0) != 0 &&
      errno != ESRCH)  // ESRCH: it has exited and waits to be reaped; nothing to signal
    throw_errno("pidfd_send_signal");
}

void Process::terminate() { send_signal(SIGTERM); }
void Process::kill() { send_signal(SIGKILL); }

void Process::signal_group(int signal) {
  if (returncode_) return;  // reaped: the group's id may be reused (no pidfd for a group)
  // Unreaped, the child holds its pid, so the group with that id is still ours.
  if (::killpg(pid_, signal) != 0 && errno != ESRCH) throw_errno("killpg");
}

namespace {

// communicate(), then tells enforce() that the child is done by cancelling its timer.
// Pointers, not references: coroutine parameters must not dangle (run() outlives both).
asio::awaitable<Output> talk(Process* process, std::string input, asio::steady_timer* timer) {
  auto talking = process->communicate(std::move(input));
  Output output = co_await std::move(talking);
  timer->cancel();
  co_return output;
}

// The timeout policy, run next to talk(): give the child `timeout` to finish, then ask its
// process group to stop (SIGTERM, which it may catch to clean up), then force it (SIGKILL)
// after `grace`. The whole group: a grandchild (a shell's command run without exec) holds
// the child's pipes too, and communicate() ends only when the last holder has closed them.
// So "finished" means communicate() is done, not merely that the child exited.
// Returns whether it had to intervene. It never cancels communicate(): killing the group
// closes the pipes, so communicate() ends by itself with everything written so far.
// (Each co_await is its own statement: g++ 12 miscompiles a co_await inside an if condition.)
asio::awaitable<bool> enforce(Process* process, asio::steady_timer* timer, std::string name,
                              Limits limits) {
  // talk() cancels the timer once the child is done: an error here means "done in time".
  // The timer may also expire in the same turn as talk() finishes: the returncode tells.
  auto [in_time] = co_await timer->async_wait(compat::as_tuple(asio::use_awaitable));
  if (in_time || process->returncode()) co_return false;
  tut::log(name, "still running after {}: SIGTERM to its group", tut::seconds(limits.timeout));
  process->signal_group(SIGTERM);
  timer->expires_after(limits.grace);
  auto [in_grace] = co_await timer->async_wait(compat::as_tuple(asio::use_awaitable));
  if (in_grace || process->returncode()) co_return true;
  tut::log(name, "ignored SIGTERM for {}: SIGKILL to its group", tut::seconds(limits.grace));
  process->signal_group(SIGKILL);
  co_return true;
}

std::string summary(const Output& output) {
  std::string text = describe(output.returncode);
  if (!output.out.empty()) text += fmt::format(", stdout {:?}", output.out);
  if (!output.err.empty()) text += fmt::format(", stderr {:?}", output.err);
  return text;
}

}  // namespace

asio::awaitable<Completed> run(Command command) {
  auto executor = co_await asio::this_coro::executor;
  Completed result;
  result.name = command.name;
  result.started = tut::clock::now();
  tut::log(command.name, "start: {}", command_line(command.argv));

  Process process = Process::exec(executor, command.argv);
  result.pid = process.pid();
  asio::steady_timer timer(executor, command.limits.timeout);
  auto talking = talk(&process, std::move(command.input), &timer);
  auto policing = enforce(&process, &timer, command.name, command.limits);
  auto [output, timed_out] = co_await (std::move(talking) && std::move(policing));

  result.finished = tut::clock::now();
  result.returncode = output.returncode;
  result.timed_out = timed_out;
  tut::log(command.name, "{}", summary(output));
  result.out = std::move(output.out);
  result.err = std::move(output.err);
  co_return result;
}

namespace {

// What the workers of run_all share. Single-threaded: no lock needed.
struct Batch {
  std::vector<Command> commands;
  std::vector<Completed> results;
  std::size_t next = 0;
};

// A worker takes the next command, runs it, and repeats. N workers mean at most N children
// at once: the same effect as an asyncio.Semaphore(N) around each run, with nothing to
// acquire or release. The batch lives in run_all's frame, which awaits every worker.
asio::awaitable<void> worker(Batch* batch) {
  while (batch->next < batch->commands.size()) {
    std::size_t index = batch->next++;
    Command& command = batch->commands[index];
    try {
      batch->results[index] = co_await run(command);
    } catch (const std::system_error& error) {
      if (error.code() == asio::error::operation_aborted) throw;  // we were cancelled: stop
      tut::log(command.name, "error: {}", error.what());
      batch->results[index].name = command.name;
      batch->results[index].error = error.what();
    }
  }
}

}  // namespace

asio::awaitable<std::vector<Completed>> run_all(std::vector<Command> commands,
                                                std::size_t limit) {
  if (limit == 0) throw std::invalid_argument("run_all: the limit must be at least 1");
  Batch batch{std::move(commands), {}, 0};
  batch.results.resize(batch.commands.size());

  // `a && b` of two awaitable<void> is an awaitable<void> that runs both at once, so a
  // loop can join any number of workers.
  std::size_t workers = std::min(limit, batch.commands.size());
  asio::awaitable<void> all = worker(&batch);
  for (std::size_t i = 1; i < workers; ++i) {
    auto another = worker(&batch);
    all = std::move(all) && std::move(another);
  }
  co_await std::move(all);
  co_return std::move(batch.results);
}

}  // namespace lesson013
