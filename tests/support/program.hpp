// Test support: a child process started by a test (a lesson program, python3, Chromium,
// a database server), the one way every test starts one. Not teaching code.
//
//     auto server = tut::test::Program::built("029_chat_server", {"--serve"});
//     server.read_until("listening", 20s);          // its stdout, collected in output()
//     server.signal(SIGTERM);
//     tut::test::Exit exit = server.wait(20s);      // killed past the limit
//     CHECK(exit.code == 0);
//
// The destructor kills (SIGKILL) and reaps a child still running, its whole process group when
// it has one of its own, so a failing test leaves no process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tut::test {

/// The path of a program built next to this test program (`/proc/self/exe`'s folder holds
/// every lesson's `NNN_topic` binary).
std::string built_program(const std::string& name);

/// Reads from `fd` into `output` until `text` has come (empty `text`: until end of file) or
/// `limit` has passed. True if it came (or, for an empty `text`, the end of file did).
/// Also for a test's own client socket.
bool read_until(int fd, std::string& output, std::string_view text,
                std::chrono::steady_clock::duration limit);

/// How a child process ended.
struct Exit {
  int code = -1;            ///< its exit code; -1 if it did not exit normally
  int signal = 0;           ///< the signal that ended it, 0 if none
  bool timed_out = false;   ///< still running at the limit, so killed (then `signal` is SIGKILL)
};

/// An anonymous temporary file (std::tmpfile(): gone once closed), for a child's stdin,
/// stdout or stderr where a pipe could fill up: `options.in = file.fd()`, or
/// Stdout::descriptor with `options.out_fd = file.fd()`.
class TempFile {
 public:
  TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();
  int fd() const { return fd_; }
  /// Everything written to it so far (by us or by a child), whatever its offset.
  std::string contents() const;

 private:
  std::FILE* file_;
  int fd_;
};

class Program {
 public:
  enum class Stdout { pipe, null, inherit, descriptor };
  enum class Stderr { inherit, null, file, to_stdout, descriptor };

  struct Options {
    Stdout out = Stdout::pipe;           ///< pipe: read it with read_until(), output()
    Stderr err = Stderr::inherit;
    std::string err_file;                ///< with Stderr::file: created or truncated
    int in = -1;        ///< a descriptor of ours to be its stdin; -1: /dev/null
    int out_fd = -1;    ///< with Stdout::descriptor: one of ours to be its stdout
    int err_fd = -1;    ///< with Stderr::descriptor: one of ours to be its stderr
    int pipe_size = 0;  ///< with Stdout::pipe: the pipe's capacity (F_SETPIPE_SZ), 0: Linux's
    bool own_process_group = false;      ///< signal() and the kill reach its whole group
    std::vector<std::string> environment;  ///< "NAME=value": added, or replacing NAME
    std::string directory;               ///< its working directory, empty: the test's
  };

  /// Starts `args[0]` (a path, or a name looked up on PATH) with the other `args`, stdin
  /// from /dev/null. Throws std::system_error if it cannot be started.
  explicit Program(std::vector<std::string> args) : Program(std::move(args), Options{}) {}
  Program(std::vector<std::string> args, Options options);
  /// Starts the program `name` built next to this test program (built_program()) with `args`.
  static Program built(const std::string& name, std::vector<std::string> args,
                       Options options) {
    args.insert(args.begin(), built_program(name));
    return Program(std::move(args), std::move(options));
  }
  static Program built(const std::string& name, std::vector<std::string> args) {
    return built(name, std::move(args), Options{});
  }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program();

  pid_t pid() const { return pid_; }
  /// Whether it has not ended yet. Only looks (waitid with WNOWAIT): it does not reap the
  /// child, so a later wait() still gets its exit code.
  bool running() const;

  /// Reads its stdout (Stdout::pipe) until `text` appears in output() (empty: until end of
  /// file) or `limit` passes; true if it did.
  bool read_until(std::string_view text, std::chrono::steady_clock::duration limit);
  /// Reads its stdout until a whole line containing `text` has come, and returns that line
  /// (without its newline); nothing if it has not come within `limit` or before the end.
  std::optional<std::string> line_with(std::string_view text,
                                       std::chrono::steady_clock::duration limit);
  /// Everything read from its stdout so far.
  const std::string& output() const { return output_; }
  /// Closes our end of its stdout pipe, as `program | head -n 1` does once head has its line:
  /// its next write fails (EPIPE, or SIGPIPE if it does not ignore that).
  void close_stdout() { close_output(); }

  /// Sends `signal` to it (to its group, with own_process_group).
  void signal(int signal);

  /// Waits for it to end, collecting its stdout meanwhile and, once it has ended, what is
  /// left in the pipe; past `limit` kills it (SIGKILL).
  /// Once it has ended, returns the same Exit again.
  Exit wait(std::chrono::steady_clock::duration limit);

 private:
  void drain_output();
  void close_output();

  pid_t pid_ = -1;
  int out_ = -1;  // the read end of its stdout pipe
  bool group_ = false;
  bool ended_ = false;
  Exit exit_;
  std::string output_;
};

}  // namespace tut::test
