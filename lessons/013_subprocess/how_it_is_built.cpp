// How it is built: the POSIX plumbing behind lesson 013's Process: pipes, posix_spawn, the
// pidfd, reaping and signals. You can skip it at this lesson: subprocess.hpp says what each
// call does, subprocess.cpp shows how they are used. Read it to see how a child is started
// and watched without blocking the event loop.
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
//   this child's exit" (Process::wait(), in subprocess.cpp): no global state, no signal
//   handler, works with many event loops.
//
// This lesson uses the pidfd. Like every descriptor we create, it is close-on-exec.
// asyncio installs no SIGCHLD handler by default either: 3.11 starts a thread per child that
// blocks in waitpid() (ThreadedChildWatcher), 3.12 polls a pidfd where the kernel has one.
// No coroutine here: this file compiles fast.
#include "subprocess.hpp"

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

#include <fmt/format.h>

extern char** environ;  // the environment the children inherit

namespace lesson013 {

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

}  // namespace lesson013
