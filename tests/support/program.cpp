// tut::test::Program (program.hpp): posix_spawn with the pipes and file actions a test needs.
#include "program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>

extern char** environ;

namespace tut::test {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

// The test's environment with `extra` ("NAME=value") added or replacing the same NAME.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> result;
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    bool replaced = false;
    for (const auto& added : extra) replaced = replaced || name_of(added) == name_of(text);
    if (!replaced) result.push_back(std::move(text));
  }
  result.insert(result.end(), extra.begin(), extra.end());
  return result;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

std::string built_program(const std::string& name) {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / name).string();
}

namespace {

enum class Read { more, timeout, end };

// Appends what `fd` has (waiting until `deadline` at most for it) to `output`.
Read read_some(int fd, std::string& output, Clock::time_point deadline) {
  const auto left = left_until(deadline);
  if (left.count() <= 0) return Read::timeout;
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) return Read::timeout;
  char chunk[4096];
  const auto n = ::read(fd, chunk, sizeof chunk);
  if (n <= 0) return Read::end;  // end of file (or an error): nothing more will come
  output.append(chunk, static_cast<std::size_t>(n));
  return Read::more;
}

}  // namespace

bool read_until(int fd, std::string& output, std::string_view text, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (text.empty() || output.find(text) == std::string::npos) {
    const Read read = read_some(fd, output, deadline);
    if (read == Read::timeout) return false;
    if (read == Read::end) return text.empty();
  }
  return true;
}

Program::Program(std::vector<std::string> args, Options options)
    : group_(options.own_process_group) {
  if (args.empty()) fail(EINVAL, "Program: no program given");
  int pipe_ends[2] = {-1, -1};
  // O_CLOEXEC: a second child must not inherit this pipe, or its end of file never comes.
  if (options.out == Stdout::pipe && ::pipe2(pipe_ends, O_CLOEXEC) != 0)
    fail(errno, "Program: pipe");
  if (options.out == Stdout::pipe && options.pipe_size > 0 &&
      ::fcntl(pipe_ends[1], F_SETPIPE_SZ, options.pipe_size) < 0) {
    const int error = errno;
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
    fail(error, "Program: F_SETPIPE_SZ");
  }
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  if (options.in >= 0)
    posix_spawn_file_actions_adddup2(&files, options.in, STDIN_FILENO);
  else
    posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (options.out == Stdout::pipe)
    posix_spawn_file_actions_adddup2(&files, pipe_ends[1], STDOUT_FILENO);  // dup2 clears CLOEXEC
  else if (options.out == Stdout::null)
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  else if (options.out == Stdout::descriptor)
    posix_spawn_file_actions_adddup2(&files, options.out_fd, STDOUT_FILENO);
  if (options.err == Stderr::null)
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  else if (options.err == Stderr::file)
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, options.err_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  else if (options.err == Stderr::to_stdout)
    posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  else if (options.err == Stderr::descriptor)
    posix_spawn_file_actions_adddup2(&files, options.err_fd, STDERR_FILENO);
  if (!options.directory.empty())
    posix_spawn_file_actions_addchdir_np(&files, options.directory.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  if (group_) {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);  // a group of its own, its id the child's pid
  }
  auto argv = pointers_to(args);
  auto environment = environment_with(options.environment);
  auto envp = pointers_to(environment);
  const int error = ::posix_spawnp(&pid_, argv[0], &files, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);
  if (pipe_ends[1] >= 0) ::close(pipe_ends[1]);
  out_ = pipe_ends[0];
  if (error != 0) {
    close_output();
    pid_ = -1;
    ended_ = true;
    fail(error, "Program: cannot start " + args[0]);
  }
}

Program::~Program() {
  if (!ended_) {
    ::kill(group_ ? -pid_ : pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  close_output();
}

bool Program::read_until(std::string_view text, Clock::duration limit) {
  if (out_ < 0) return !text.empty() && output_.find(text) != std::string::npos;
  return tut::test::read_until(out_, output_, text, limit);
}

std::optional<std::string> Program::line_with(std::string_view text, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const auto at = output_.find(text);
    const auto end = at == std::string::npos ? at : output_.find('\n', at);
    if (end != std::string::npos) {
      const auto newline = output_.rfind('\n', at);
      const auto begin = newline == std::string::npos ? 0 : newline + 1;
      return output_.substr(begin, end - begin);
    }
    if (out_ < 0 || read_some(out_, output_, deadline) != Read::more) return std::nullopt;
  }
}

bool Program::running() const {
  if (ended_) return false;
  siginfo_t info{};
  // WNOWAIT: look without reaping; si_pid stays 0 while it has not ended.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  return info.si_pid == 0;
}

void Program::signal(int signal) {
  if (!ended_) ::kill(group_ ? -pid_ : pid_, signal);
}

Exit Program::wait(Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (!ended_) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      ended_ = true;
      if (WIFEXITED(status)) exit_.code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) exit_.signal = WTERMSIG(status);
      break;
    }
    if (left_until(deadline).count() <= 0) {
      ::kill(group_ ? -pid_ : pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      ended_ = true;
      exit_ = Exit{-1, SIGKILL, true};
      break;
    }
    // Keep reading its stdout, so a child writing to a full pipe does not block forever.
    if (out_ >= 0) {
      std::string chunk;
      if (tut::test::read_until(out_, chunk, "", std::chrono::milliseconds(10))) close_output();
      output_ += chunk;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  drain_output();  // what it wrote just before it ended is still in the pipe
  return exit_;
}

void Program::drain_output() {
  while (out_ >= 0) {
    pollfd ready{out_, POLLIN, 0};
    if (::poll(&ready, 1, 0) <= 0) return;  // nothing more now (a grandchild may hold it open)
    char chunk[4096];
    const auto n = ::read(out_, chunk, sizeof chunk);
    if (n <= 0) return close_output();  // end of file: every writer has closed it
    output_.append(chunk, static_cast<std::size_t>(n));
  }
}

void Program::close_output() {
  if (out_ >= 0) ::close(out_);
  out_ = -1;
}

TempFile::TempFile() : file_(std::tmpfile()), fd_(file_ == nullptr ? -1 : ::fileno(file_)) {
  if (file_ == nullptr) fail(errno, "TempFile: tmpfile");
}

TempFile::~TempFile() { std::fclose(file_); }

std::string TempFile::contents() const {
  std::string text;
  char chunk[65536];
  for (off_t at = 0;;) {
    const auto n = ::pread(fd_, chunk, sizeof chunk, at);
    if (n <= 0) return text;
    text.append(chunk, static_cast<std::size_t>(n));
    at += n;
  }
}

}  // namespace tut::test
