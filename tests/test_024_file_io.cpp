// Lesson 024 tests: real files in a temporary folder, checked against real peers: Python's
// zlib.crc32 (/usr/bin/python3), /dev/full, a tiny tmpfs in a mount namespace (unshare) for a
// disk that fills up mid-copy, setpriv to take root's permission override away, and the
// io_uring program (024_file_io_uring, built when liburing-dev is installed).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "file_io.hpp"
#include "errors.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace lesson024;
using tut::test::ContainsSubstring;
using tut::test::run_within;
namespace fs = std::filesystem;

namespace {

using tut::test::TempDir;

// Files in `dir` whose name says they are a copy in progress.
int temporaries(const TempDir& dir) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (entry.path().filename().string().find(".partial-") != std::string::npos) ++n;
  return n;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `size` pseudo-random bytes (a fixed LCG: the same every run).
std::string some_bytes(std::size_t size) {
  std::string bytes(size, '\0');
  std::uint32_t x = 12345;
  for (auto& c : bytes) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return bytes;
}

struct Ran {
  int status = -1;  // the exit status, or -1 if the command did not exit normally
  std::string output;  // stdout and stderr
};

Ran run_command(const std::string& command) {
  Ran ran;
  FILE* child = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(child != nullptr);
  std::array<char, 4096> chunk{};
  while (auto n = std::fread(chunk.data(), 1, chunk.size(), child)) ran.output.append(chunk.data(), n);
  const int status = pclose(child);
  if (WIFEXITED(status)) ran.status = WEXITSTATUS(status);
  return ran;
}

std::string sq(const std::string& text) { return "'" + text + "'"; }

std::string program(const std::string& name) {
  return (fs::read_symlink("/proc/self/exe").parent_path() / name).string();
}

// zlib.crc32 of a file, as Python computes it: eight hex digits, or "" without Python.
std::string python_crc32(const std::string& path) {
  if (!fs::exists("/usr/bin/python3")) return "";
  auto ran = run_command("/usr/bin/python3 -c \"import sys, zlib; "
                         "print(format(zlib.crc32(open(sys.argv[1], 'rb').read()), '08x'))\" " +
                         sq(path));
  return ran.output.substr(0, 8);
}

std::string hex(std::uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

// Runs `coroutine`, returns the exception it ended with (null if none).
template <typename T>
std::exception_ptr error_of(asio::awaitable<T> coroutine) {
  try {
    run_within(std::move(coroutine));
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

int errno_of(std::exception_ptr error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const FileError& e) {
    return e.code().value();
  } catch (...) {
  }
  return 0;
}

using tut::test::message_of;

}  // namespace

TEST_CASE("copy_file copies byte for byte and its crc32 is Python's zlib.crc32") {
  TempDir dir("test_024");
  const std::string data = some_bytes(3 * chunk_size + 12345);
  write_file(dir / "in.bin", data);
  asio::thread_pool pool(2);
  const Copied copied = run_within(copy_file(pool, dir / "in.bin", dir / "out.bin", {}, true));
  CHECK(copied.bytes == data.size());
  CHECK(read_file(dir / "out.bin") == data);
  CHECK(temporaries(dir) == 0);
  const std::string expected = python_crc32(dir / "in.bin");
  if (!tut::test::peer_available(!expected.empty(), "/usr/bin/python3 (apt-get install python3)"))
    return;
  REQUIRE(copied.crc32.has_value());
  CHECK(hex(*copied.crc32) == expected);
  CHECK(hex(run_within(crc32_of_file(pool, dir / "out.bin"))) == expected);
}

TEST_CASE("copy_file reports progress after every chunk up to the total") {
  TempDir dir("test_024");
  write_file(dir / "in.bin", some_bytes(2 * chunk_size + 1));
  asio::thread_pool pool(1);
  std::vector<Progress> seen;
  auto record = [&seen](const Progress& p) { seen.push_back(p); };
  run_within(copy_file(pool, dir / "in.bin", dir / "out.bin", record));
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].done == chunk_size);
  CHECK(seen[1].done == 2 * chunk_size);
  CHECK(seen[2].done == 2 * chunk_size + 1);
  CHECK(seen[2].total == 2 * chunk_size + 1);
}

TEST_CASE("copy_file of an empty file makes an empty file") {
  TempDir dir("test_024");
  write_file(dir / "empty", "");
  asio::thread_pool pool(1);
  const Copied copied = run_within(copy_file(pool, dir / "empty", dir / "copy"));
  CHECK(copied.bytes == 0);
  CHECK(fs::exists(dir / "copy"));
  CHECK(fs::file_size(dir / "copy") == 0);
}

TEST_CASE("a failed copy leaves an existing destination as it was") {
  TempDir dir("test_024");
  write_file(dir / "out.txt", "old");
  asio::thread_pool pool(1);
  auto error = error_of(copy_file(pool, dir / "missing.txt", dir / "out.txt"));
  CHECK(errno_of(error) == ENOENT);
  CHECK(read_file(dir / "out.txt") == "old");
  write_file(dir / "in.txt", "new");
  run_within(copy_file(pool, dir / "in.txt", dir / "out.txt"));
  CHECK(read_file(dir / "out.txt") == "new");
}

TEST_CASE("errors name the file and the reason and leave nothing behind") {
  TempDir dir("test_024");
  write_file(dir / "in.txt", some_bytes(chunk_size + 1));
  asio::thread_pool pool(1);
  SECTION("a missing source") {
    auto error = error_of(copy_file(pool, dir / "missing.txt", dir / "out.txt"));
    CHECK(errno_of(error) == ENOENT);
    CHECK(message_of(error) == "cannot open '" + (dir / "missing.txt") + "': No such file or directory");
  }
  SECTION("a directory as the source") {
    auto error = error_of(copy_file(pool, dir.path().string(), dir / "out.txt"));
    CHECK(errno_of(error) == EISDIR);
    CHECK(message_of(error) == "cannot read '" + dir.path().string() + "': Is a directory");
  }
  SECTION("a directory as the destination") {
    fs::create_directory(dir / "out.txt");
    auto error = error_of(copy_file(pool, dir / "in.txt", dir / "out.txt"));
    CHECK(errno_of(error) == EISDIR);
    CHECK(fs::is_empty(dir / "out.txt"));
  }
  SECTION("a destination in a missing folder") {
    auto error = error_of(copy_file(pool, dir / "in.txt", dir / "nowhere/out.txt"));
    CHECK(errno_of(error) == ENOENT);
    CHECK_THAT(message_of(error), ContainsSubstring("cannot create a file in"));
  }
  SECTION("a full device: /dev/full") {
    auto error = error_of(copy_file(pool, dir / "in.txt", "/dev/full"));
    CHECK(errno_of(error) == ENOSPC);
    CHECK(message_of(error) == "error writing '/dev/full': No space left on device");
  }
  CHECK((!fs::exists(dir / "out.txt") || fs::is_directory(dir / "out.txt")));
  CHECK(temporaries(dir) == 0);
}

TEST_CASE("a disk that fills up mid-copy leaves no file and no temporary") {
  // A real full filesystem: a 1 MiB tmpfs mounted in a mount namespace of the child's own
  // (root: unshare -m; otherwise a user namespace, unshare -rm, where the kernel allows it).
  TempDir dir("test_024");
  fs::create_directory(dir / "small");
  write_file(dir / "in.bin", some_bytes(3 * 1024 * 1024));
  const std::string unshare = ::geteuid() == 0 ? "unshare -m" : "unshare -rm";
  const bool can_mount =
      run_command(unshare + " --propagation private sh -c 'mount -t tmpfs -o size=1m tmpfs " +
                  sq(dir / "small") + "'").status == 0;
  if (!tut::test::peer_available(can_mount, "a mount namespace for a tiny tmpfs (unshare -m as root)"))
    return;
  const auto ran = run_command(
      unshare + " --propagation private sh -c 'mount -t tmpfs -o size=1m tmpfs \"$1\" && "
                "\"$2\" --copy \"$3\" \"$1/out.bin\"; echo \"status $?\"; echo files: $(ls -A \"$1\")' sh " +
      sq(dir / "small") + " " + sq(program("024_file_io")) + " " + sq(dir / "in.bin"));
  INFO(ran.output);
  CHECK_THAT(ran.output, ContainsSubstring("error writing '" + (dir / "small/out.bin") +
                                           "': No space left on device"));
  CHECK_THAT(ran.output, ContainsSubstring("status 1"));
  CHECK_THAT(ran.output, ContainsSubstring("files:\n"));
}

TEST_CASE("permission denied on the source or on the destination folder") {
  TempDir dir("test_024");
  write_file(dir / "secret.txt", "secret");
  ::chmod((dir / "secret.txt").c_str(), 0);
  fs::create_directory(dir / "read-only");
  ::chmod((dir / "read-only").c_str(), 0555);
  write_file(dir / "in.txt", "text");
  if (::geteuid() != 0) {
    asio::thread_pool pool(1);
    auto read_denied = error_of(copy_file(pool, dir / "secret.txt", dir / "out.txt"));
    CHECK(errno_of(read_denied) == EACCES);
    CHECK(message_of(read_denied) == "cannot open '" + (dir / "secret.txt") + "': Permission denied");
    auto write_denied = error_of(copy_file(pool, dir / "in.txt", dir / "read-only/out.txt"));
    CHECK(errno_of(write_denied) == EACCES);
  } else {
    // Root reads and writes anything (CAP_DAC_OVERRIDE): run the lesson program without
    // those capabilities (setpriv drops them from the bounding set before exec).
    const std::string setpriv = "setpriv --bounding-set=-dac_override,-dac_read_search " +
                                sq(program("024_file_io")) + " --copy ";
    const auto read_denied = run_command(setpriv + sq(dir / "secret.txt") + " " + sq(dir / "out.txt"));
    INFO(read_denied.output);
    CHECK(read_denied.status == 1);
    CHECK_THAT(read_denied.output, ContainsSubstring("cannot open '" + (dir / "secret.txt") +
                                                     "': Permission denied"));
    const auto write_denied = run_command(setpriv + sq(dir / "in.txt") + " " + sq(dir / "read-only/out.txt"));
    INFO(write_denied.output);
    CHECK(write_denied.status == 1);
    CHECK_THAT(write_denied.output, ContainsSubstring("Permission denied"));
  }
  CHECK_FALSE(fs::exists(dir / "out.txt"));
  CHECK(fs::is_empty(dir / "read-only"));
}

TEST_CASE("cancelling mid-copy leaves no file under the final name and no temporary") {
  TempDir dir("test_024");
  write_file(dir / "in.bin", some_bytes(6 * chunk_size));
  write_file(dir / "kept.bin", "old");
  asio::thread_pool pool(2);
  for (const std::string to : {"out.bin", "kept.bin"}) {
    asio::cancellation_signal cancel;
    std::uint64_t last_seen = 0;
    auto cancel_after_two = [&](const Progress& p) {
      last_seen = p.done;
      if (p.done == 2 * chunk_size) cancel.emit(asio::cancellation_type::terminal);
    };
    auto test = [&]() -> asio::awaitable<std::exception_ptr> {
      auto ex = co_await asio::this_coro::executor;
      std::exception_ptr error;
      bool done = false;
      asio::steady_timer finished(ex, asio::steady_timer::time_point::max());
      auto on_done = [&](std::exception_ptr e, Copied) { error = e; done = true; finished.cancel(); };
      auto copy = copy_file(pool, dir / "in.bin", dir / to, cancel_after_two);
      asio::co_spawn(ex, std::move(copy), asio::bind_cancellation_slot(cancel.slot(), on_done));
      while (!done) co_await finished.async_wait(compat::as_tuple(asio::use_awaitable));
      co_return error;
    };
    const auto error = run_within(test());
    CHECK(tut::is_cancellation(error));
    CHECK(last_seen == 2 * chunk_size);  // no chunk after the cancellation
    CHECK(temporaries(dir) == 0);
  }
  CHECK_FALSE(fs::exists(dir / "out.bin"));
  CHECK(read_file(dir / "kept.bin") == "old");
}

TEST_CASE("Ctrl-C during 024_file_io --copy leaves no file and no temporary") {
  // The source is a FIFO that this test feeds, so the copy is still running when SIGINT
  // arrives, whatever the machine's speed. After the signal the test goes on writing until the
  // child closes its end (EPIPE): the cancelled copy has then given up its files.
  TempDir dir("test_024");
  const std::string fifo = dir / "in.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string prog = program("024_file_io");
  const std::string out = dir / "out.bin";
  std::vector<char*> argv{const_cast<char*>(prog.c_str()), const_cast<char*>("--copy"),
                          const_cast<char*>(fifo.c_str()), const_cast<char*>(out.c_str()), nullptr};
  pid_t child = 0;
  REQUIRE(::posix_spawn(&child, prog.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  auto previous = ::signal(SIGPIPE, SIG_IGN);
  Fd feed(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));  // waits until the child opens it
  REQUIRE(feed.get() >= 0);
  const std::string chunk = some_bytes(64 * 1024);
  // A pipe holds 64 KiB: when 1 MiB has gone in, the child has read most of it.
  for (int i = 0; i < 16; ++i) REQUIRE(::write(feed.get(), chunk.data(), chunk.size()) > 0);
  ::kill(child, SIGINT);
  while (::write(feed.get(), chunk.data(), chunk.size()) > 0) {
  }
  const int write_error = errno;
  ::signal(SIGPIPE, previous);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(write_error == EPIPE);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK_FALSE(fs::exists(out));
  CHECK(temporaries(dir) == 0);
}

TEST_CASE("for_each_line splits lines across chunk boundaries") {
  TempDir dir("test_024");
  std::vector<std::string> lines;
  std::string text;
  for (int i = 0; text.size() < 3 * chunk_size; ++i) {
    lines.push_back(std::string(static_cast<std::size_t>(i * 7919 % 5000), static_cast<char>('a' + i % 26)));
    text += lines.back() + "\n";
  }
  lines.push_back("no newline at the end");
  text += lines.back();
  write_file(dir / "lines.txt", text);
  asio::thread_pool pool(1);
  std::vector<std::string> seen;
  auto collect = [&seen](std::string_view line) { seen.emplace_back(line); };
  const auto count = run_within(for_each_line(pool, dir / "lines.txt", collect));
  CHECK(count == lines.size());
  CHECK(seen == lines);
}

TEST_CASE("for_each_line refuses a line longer than its limit") {
  TempDir dir("test_024");
  write_file(dir / "one-line.txt", std::string(2 * chunk_size, 'x'));
  asio::thread_pool pool(1);
  auto ignore = [](std::string_view) {};
  auto error = error_of(for_each_line(pool, dir / "one-line.txt", ignore, 1000));
  CHECK(errno_of(error) == EFBIG);
}

TEST_CASE("crc32_of_files reads at most limit files at once and matches Python") {
  TempDir dir("test_024");
  std::vector<std::string> paths;
  for (int i = 0; i < 7; ++i) {
    paths.push_back(dir / ("f" + std::to_string(i)));
    write_file(paths.back(), some_bytes(static_cast<std::size_t>(i) * chunk_size / 2 + 17));
  }
  asio::thread_pool pool(2);
  for (int limit : {1, 3}) {
    const ManyFiles result = run_within(crc32_of_files(pool, paths, limit));
    CHECK(result.most_at_once == limit);
    REQUIRE(result.crc32s.size() == paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const std::string expected = python_crc32(paths[i]);
      if (!tut::test::peer_available(!expected.empty(), "/usr/bin/python3 (apt-get install python3)"))
        return;
      CHECK(hex(result.crc32s[i]) == expected);
    }
  }
}

TEST_CASE("crc32_of_files reports a missing file once the others are done") {
  TempDir dir("test_024");
  write_file(dir / "a", "a");
  asio::thread_pool pool(1);
  std::vector<std::string> paths{dir / "a", dir / "missing", dir / "a"};
  auto error = error_of(crc32_of_files(pool, paths, 2));
  CHECK(errno_of(error) == ENOENT);
}

// A FIFO holds one read on the pool until the test writes to it, so the cancellation surely
// comes while that read is in flight: crc32_of_files must wait for it (its reads use its
// Semaphore and counters), not return at the cancellation and leave the read running.
TEST_CASE("cancelling crc32_of_files returns only after its reads have stopped") {
  using namespace std::chrono_literals;
  TempDir dir("test_024");
  const std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  write_file(dir / "a", "a");
  asio::thread_pool pool(2);
  std::atomic<bool> fifo_released{false};
  std::thread writer;
  auto test = [&]() -> asio::awaitable<std::pair<std::size_t, bool>> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
    auto cancel_soon = [&]() -> asio::awaitable<void> {
      co_await timer.async_wait(asio::use_awaitable);
      // The FIFO's read is stuck on the pool: release it 0.2 s after the cancellation.
      writer = std::thread([&] {
        std::this_thread::sleep_for(200ms);
        fifo_released = true;
        // The cancelled read may close the FIFO as soon as its open() returns, before our
        // write: then write() fails with EPIPE, and must not raise SIGPIPE (it killed the test
        // once). Blocked in this thread only, where a write raises it.
        sigset_t pipe_signal;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
        Fd feed(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
        if (feed.get() >= 0) (void)!::write(feed.get(), "x", 1);
      });
    };
    std::vector<std::string> paths{dir / "a", fifo, dir / "a"};
    using namespace asio::experimental::awaitable_operators;
    auto race = crc32_of_files(pool, paths, 3) || cancel_soon();
    auto winner = co_await std::move(race);
    co_return std::pair{winner.index(), fifo_released.load()};
  };
  const auto [winner, released_before_return] = run_within(test());
  writer.join();
  CHECK(winner == 1);               // the cancellation won: the FIFO had no data
  CHECK(released_before_return);    // and the race waited until the stuck read had finished
}

TEST_CASE("the blocking copy keeps the loop from running other tasks and copy_file does not") {
  TempDir dir("test_024");
  write_file(dir / "in.bin", some_bytes(4 * chunk_size));
  asio::thread_pool pool(1);
  auto test = [&]() -> asio::awaitable<std::pair<bool, bool>> {
    auto ex = co_await asio::this_coro::executor;
    bool other_ran = false;
    auto other = [&other_ran]() -> asio::awaitable<void> {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      other_ran = true;
    };
    asio::co_spawn(ex, other(), tut::rethrow);  // runs up to its post, then waits for the loop
    copy_file_blocking(dir / "in.bin", dir / "blocking.bin");
    const bool ran_during_blocking_copy = other_ran;
    co_await asio::post(ex, asio::use_awaitable);
    other_ran = false;
    asio::co_spawn(ex, other(), tut::rethrow);
    auto copy = copy_file(pool, dir / "in.bin", dir / "pool.bin");
    co_await std::move(copy);
    co_return std::make_pair(ran_during_blocking_copy, other_ran);
  };
  const auto [during_blocking, during_pool] = run_within(test());
  CHECK_FALSE(during_blocking);
  CHECK(during_pool);
  CHECK(read_file(dir / "blocking.bin") == read_file(dir / "in.bin"));
  CHECK(read_file(dir / "pool.bin") == read_file(dir / "in.bin"));
}

TEST_CASE("the io_uring program copies with the same bytes and crc32 as Python") {
  const std::string uring = program("024_file_io_uring");
  if (!tut::test::peer_available(fs::exists(uring),
                                 "024_file_io_uring (apt-get install liburing-dev, configure again)"))
    return;
  TempDir dir("test_024");
  const std::string data = some_bytes(5 * chunk_size + 777);
  write_file(dir / "in.bin", data);
  const auto ran = run_command(sq(uring) + " " + sq(dir / "in.bin") + " " + sq(dir / "out.bin"));
  INFO(ran.output);
  CHECK(ran.status == 0);
  CHECK(read_file(dir / "out.bin") == data);
  const std::string expected = python_crc32(dir / "in.bin");
  if (!tut::test::peer_available(!expected.empty(), "/usr/bin/python3 (apt-get install python3)"))
    return;
  CHECK(ran.output == "copied " + std::to_string(data.size()) + " bytes, crc32 " + expected + "\n");
}

TEST_CASE("the io_uring program reports errors like the thread pool and leaves nothing") {
  const std::string uring = program("024_file_io_uring");
  if (!tut::test::peer_available(fs::exists(uring),
                                 "024_file_io_uring (apt-get install liburing-dev, configure again)"))
    return;
  TempDir dir("test_024");
  write_file(dir / "in.bin", some_bytes(chunk_size + 5));
  const auto missing = run_command(sq(uring) + " " + sq(dir / "missing") + " " + sq(dir / "out"));
  CHECK(missing.status == 1);
  CHECK_THAT(missing.output, ContainsSubstring("cannot open '" + (dir / "missing") + "': No such file or directory"));
  const auto directory =
      run_command(sq(uring) + " " + sq(dir.path().string()) + " " + sq(dir / "out"));
  CHECK(directory.status == 1);
  CHECK_THAT(directory.output, ContainsSubstring("Is a directory"));
  const auto full = run_command(sq(uring) + " " + sq(dir / "in.bin") + " /dev/full");
  CHECK(full.status == 1);
  CHECK_THAT(full.output, ContainsSubstring("error writing '/dev/full': No space left on device"));
  CHECK_FALSE(fs::exists(dir / "out"));
  CHECK(temporaries(dir) == 0);
}

TEST_CASE("the io_uring program cancelled mid-copy leaves nothing behind") {
  const std::string uring = program("024_file_io_uring");
  if (!tut::test::peer_available(fs::exists(uring),
                                 "024_file_io_uring (apt-get install liburing-dev, configure again)"))
    return;
  TempDir dir("test_024");
  write_file(dir / "in.bin", some_bytes(6 * chunk_size));
  const auto ran = run_command(sq(uring) + " --cancel-after 2 " + sq(dir / "in.bin") + " " +
                               sq(dir / "out.bin"));
  INFO(ran.output);
  CHECK(ran.status == 3);
  CHECK_THAT(ran.output, ContainsSubstring("cancelled"));
  CHECK_FALSE(fs::exists(dir / "out.bin"));
  CHECK(temporaries(dir) == 0);
}
