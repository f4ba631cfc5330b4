// Lesson 024 demo: file I/O without stalling the loop. Works in a temporary folder.
//   024_file_io                            the demonstration
//   024_file_io --copy FROM TO             copy with a progress display (thread pool)
//   024_file_io --bench threads|blocking FROM TO   one measured copy (bench/file_copy.sh)
#include <poll.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "demo.hpp"
#include "file_io.hpp"
#include "file_io_bench.hpp"
#include "run.hpp"

using namespace lesson024;
namespace fs = std::filesystem;

namespace {

// Section 1: what poll() and epoll say about a regular file.
void a_file_is_always_ready(const std::string& path) {
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  pollfd p{file.get(), POLLIN | POLLOUT, 0};
  const int ready = ::poll(&p, 1, 0);  // timeout 0: do not wait at all
  fmt::print("poll() on a regular file: {} at once, readable {} writable {}\n",
             ready == 1 ? "ready" : "not ready", (p.revents & POLLIN) != 0,
             (p.revents & POLLOUT) != 0);
  Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event event{};
  event.events = EPOLLIN;
  const int added = ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, file.get(), &event);
  fmt::print("epoll_ctl(ADD) on it: {}\n",
             added == 0 ? std::string("accepted") : std::string(std::strerror(errno)));
}

// A text file of `lines` lines of 64 bytes: "00000001 the quick brown fox ...\n".
void make_text_file(const std::string& path, int lines) {
  std::ofstream out(path, std::ios::binary);
  const std::string filler(54, '.');
  for (int i = 1; i <= lines; ++i) out << fmt::format("{:08} {}\n", i, filler);
}

bool exists(const std::string& path) { return fs::exists(fs::symlink_status(path)); }

int leftovers(const std::string& folder) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".partial-") != std::string::npos) ++n;
  return n;
}

asio::awaitable<void> demo(asio::thread_pool* pool, std::string dir) {
  const std::string big = dir + "/big.txt";
  make_text_file(big, 512 * 1024);  // 32 MiB

  tut::part("1. a regular file is always \"ready\": the loop cannot wait for it");
  a_file_is_always_ready(big);

  tut::part("2. a 32 MiB copy on the thread pool, with progress and a CRC-32 while streaming");
  int shown = 0;
  auto progress = [&shown](const Progress& p) {
    const auto percent = p.done * 100 / p.total;
    if (percent >= static_cast<std::uint64_t>(shown + 25)) {
      shown = static_cast<int>(percent / 25 * 25);
      fmt::print("  {:3}%  {:2} MiB of {} MiB\n", shown, p.done >> 20, p.total >> 20);
    }
  };
  auto copy = copy_file(*pool, big, dir + "/copy.txt", progress, true);
  const Copied copied = co_await std::move(copy);
  auto again = crc32_of_file(*pool, dir + "/copy.txt");
  const std::uint32_t crc_of_copy = co_await std::move(again);
  fmt::print("copied {} bytes in {} chunks of {} KiB; crc32 {:08x}, of the copy {:08x}\n",
             copied.bytes, copied.bytes / chunk_size, chunk_size / 1024, *copied.crc32,
             crc_of_copy);

  tut::part("3. the same file line by line, one chunk in memory at a time");
  std::string first, last;
  auto on_line = [&](std::string_view line) {
    if (first.empty()) first = line;
    last = line;
  };
  auto reading = for_each_line(*pool, big, on_line);
  const auto lines = co_await std::move(reading);
  fmt::print("{} lines; the first begins {}, the last {}\n", lines, first.substr(0, 8),
             last.substr(0, 8));

  tut::part("4. eight files read concurrently, at most three at a time");
  std::vector<std::string> paths;
  for (int i = 1; i <= 8; ++i) {
    paths.push_back(fmt::format("{}/small-{}.txt", dir, i));
    make_text_file(paths.back(), i * 1000);
  }
  auto many = crc32_of_files(*pool, paths, 3);
  const ManyFiles sums = co_await std::move(many);
  fmt::print("most files open at once: {}; crc32 of small-1 {:08x}, of small-8 {:08x}\n",
             sums.most_at_once, sums.crc32s.front(), sums.crc32s.back());

  tut::part("5. a copy cancelled after three chunks leaves nothing behind");
  asio::cancellation_signal cancel;
  auto cancel_after_three = [&cancel](const Progress& p) {
    if (p.done == 3 * chunk_size) cancel.emit(asio::cancellation_type::terminal);
  };
  auto cancelled = copy_file(*pool, big, dir + "/cancelled.txt", cancel_after_three);
  auto ex = co_await asio::this_coro::executor;
  bool finished = false;
  std::exception_ptr error;
  asio::steady_timer done(ex, asio::steady_timer::time_point::max());
  auto on_done = [&](std::exception_ptr e, Copied) { error = e; finished = true; done.cancel(); };
  asio::co_spawn(ex, std::move(cancelled), asio::bind_cancellation_slot(cancel.slot(), on_done));
  while (!finished) co_await done.async_wait(compat::as_tuple(asio::use_awaitable));
  fmt::print("cancelled: {}; cancelled.txt exists: {}; temporaries left: {}\n",
             tut::is_cancellation(error), exists(dir + "/cancelled.txt"), leftovers(dir));

  tut::part("6. errors: clear messages, no half-written file");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {dir + "/missing.txt", dir + "/out.txt"},
      {dir, dir + "/out.txt"},
      {big, "/dev/full"},
      {big, dir + "/no-such-folder/out.txt"},
  };
  for (const auto& [from, to] : bad) {
    auto attempt = copy_file(*pool, from, to);
    try {
      co_await std::move(attempt);
    } catch (const FileError& e) {
      std::string message = e.what();
      for (auto at = message.find(dir); at != std::string::npos; at = message.find(dir))
        message.replace(at, dir.size(), "DIR");  // the temporary folder's name varies
      fmt::print("FileError: {}\n", message);
    }
  }
  fmt::print("out.txt exists: {}; temporaries left: {}\n", exists(dir + "/out.txt"),
             leftovers(dir));

  tut::part("7. the mistake: the same copy with blocking calls inside the loop");
  auto on_the_pool = while_measuring_the_loop(copy_file(*pool, big, dir + "/pool.txt"));
  const auto [pool_copy, pool_stalls] = co_await std::move(on_the_pool);
  auto blocking_in_loop = [](std::string from, std::string to) -> asio::awaitable<Copied> {
    co_return copy_file_blocking(from, to);  // no co_await inside: the loop waits
  };
  auto in_the_loop = while_measuring_the_loop(blocking_in_loop(big, dir + "/blocking.txt"));
  const auto [loop_copy, loop_stalls] = co_await std::move(in_the_loop);
  fmt::print("a 1 ms ticker, while the pool copied:   ticked {} times, longest stall {:.1f} ms\n",
             pool_stalls.ticks, pool_stalls.longest_ms);
  fmt::print("a 1 ms ticker, while the loop blocked:  ticked {} times, longest stall {:.1f} ms\n",
             loop_stalls.ticks, loop_stalls.longest_ms);
  fmt::print("both copies have {} bytes\n", pool_copy.bytes == loop_copy.bytes ? "the same" : "different");

  tut::part("8. the io_uring backend: the same copy with no thread at all");
  const std::string uring = fs::read_symlink("/proc/self/exe").parent_path() / "024_file_io_uring";
  std::string said = "not built (apt-get install liburing-dev, then configure again)";
  if (fs::exists(uring)) {
    const std::string command = "'" + uring + "' '" + big + "' '" + dir + "/uring.txt' 2>&1";
    said.clear();
    if (FILE* child = ::popen(command.c_str(), "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, child)) said += line;
      ::pclose(child);
    }
    if (!said.empty() && said.back() == '\n') said.pop_back();
  }
  fmt::print("024_file_io_uring: {}\n", said);
}

asio::awaitable<Copied> copy_with_progress(asio::thread_pool* pool, std::string from, std::string to) {
  auto show = [](const Progress& p) {
    if (p.total > 0)
      std::fprintf(stderr, "\r%3llu%%  %llu of %llu MiB", static_cast<unsigned long long>(p.done * 100 / p.total),
                   static_cast<unsigned long long>(p.done >> 20), static_cast<unsigned long long>(p.total >> 20));
  };
  auto copy = copy_file(*pool, from, to, show, true);
  co_return co_await std::move(copy);
}

// --copy: Ctrl-C (SIGINT) or SIGTERM cancels the copy, which removes its temporary.
int copy_command(asio::thread_pool& pool, const std::string& from, const std::string& to) {
  asio::io_context context;
  asio::cancellation_signal cancel;
  asio::signal_set signals(context, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code error, int) {
    if (!error) cancel.emit(asio::cancellation_type::terminal);
  });
  int status = 0;
  auto finished = [&](std::exception_ptr error, Copied copied) {
    signals.cancel();
    std::fprintf(stderr, "\n");
    try {
      if (error) std::rethrow_exception(error);
      fmt::print("copied {} bytes, crc32 {:08x}\n", copied.bytes, *copied.crc32);
    } catch (const std::exception& e) {
      status = tut::is_cancellation(error) ? 3 : 1;
      fmt::print(stderr, "024_file_io: {}\n",
                 status == 3 ? "cancelled: nothing written to '" + to + "'" : std::string(e.what()));
    }
  };
  asio::co_spawn(context, copy_with_progress(&pool, from, to),
                 asio::bind_cancellation_slot(cancel.slot(), finished));
  context.run();
  return status;
}

asio::awaitable<void> bench(asio::thread_pool* pool, std::string backend, std::string from, std::string to) {
  const auto start = std::chrono::steady_clock::now();
  auto blocking = [](std::string f, std::string t) -> asio::awaitable<Copied> {
    co_return copy_file_blocking(f, t);
  };
  auto work = backend == "blocking" ? blocking(from, to) : copy_file(*pool, from, to);
  auto measured = while_measuring_the_loop(std::move(work));
  const auto [copied, stalls] = co_await std::move(measured);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_bench_line(backend, copied.bytes, seconds, stalls);
}

int usage(int code) {
  fmt::print("usage: 024_file_io                     the demonstration\n"
             "       024_file_io --copy FROM TO      copy on the thread pool, with progress;\n"
             "                                      Ctrl-C cancels it and leaves nothing (exit 3)\n"
             "       024_file_io --bench threads|blocking FROM TO\n"
             "                                      one measured copy, one key=value line\n"
             "                                      (bench/file_copy.sh runs it next to cp and\n"
             "                                      024_file_io_uring --bench FROM TO)\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  asio::thread_pool pool(2);
  try {
    if (args.size() == 3 && args[0] == "--copy") {
      return copy_command(pool, args[1], args[2]);
    } else if (args.size() == 4 && args[0] == "--bench" &&
               (args[1] == "threads" || args[1] == "blocking")) {
      tut::run(bench(&pool, args[1], args[2], args[3]));
    } else if (!args.empty()) {
      return usage(args[0] == "--help" ? 0 : 2);
    } else {
      char folder[] = "/tmp/024_file_io.XXXXXX";
      if (::mkdtemp(folder) == nullptr) throw FileError(errno, "cannot create", folder);
      struct Remove {
        std::string path;
        ~Remove() { std::error_code ignored; fs::remove_all(path, ignored); }
      } remove{folder};
      tut::run(demo(&pool, folder));
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "024_file_io: {}\n", e.what());
    return 1;
  }
  return 0;
}
