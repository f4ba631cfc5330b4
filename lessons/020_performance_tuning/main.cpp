// Lesson 020 demo: measure echo servers that differ in one idea each, with one load generator.
//   020_performance_tuning             quick run: a few connections, 0.25 s per variant
//   020_performance_tuning --full      the real measurement: 100 connections, 3 s per variant
//   020_performance_tuning --connect-load HOST PORT [--connections N] [--seconds S] [--size B]
//   020_performance_tuning --callgrind-baseline N   exactly N round trips against the baseline
//   020_performance_tuning --help      these modes and the profiling commands
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "tuning.hpp"

using namespace lesson020;

namespace {

constexpr const char* help = R"(usage: 020_performance_tuning [--full | --help]
       020_performance_tuning --connect-load HOST PORT [--connections N] [--seconds S] [--size B]
       020_performance_tuning --callgrind-baseline N

No arguments: a quick comparison (4 connections, 64-byte lines, 0.25 s per variant).
--full: the real one (100 connections, 64-byte lines, 3 s per variant). Use a release build:
    cmake --preset release -B /tmp/rel && cmake --build /tmp/rel --target 020_performance_tuning
--connect-load: only the load generator, against any line-echo server, e.g. asyncio:
    python3 py_streams_echo.py 8888 line &
    020_performance_tuning --connect-load 127.0.0.1 8888 --connections 100 --seconds 3
--callgrind-baseline N: the baseline server and one connection doing exactly N round trips.

Profiling (measure first):
  perf stat -e task-clock,context-switches,cpu-migrations 020_performance_tuning --full
  perf record -g 020_performance_tuning --full && perf report
      (in a VM without hardware counters, `perf stat -e instructions` says <not supported>;
       perf record then falls back to the cpu-clock software event)
  valgrind --tool=callgrind 020_performance_tuning --callgrind-baseline 1000
  valgrind --tool=callgrind 020_performance_tuning --callgrind-baseline 2000
      (instructions per round trip = (total of the second - total of the first) / 1000:
       the difference cancels start-up; callgrind_annotate callgrind.out.PID shows where)
)";

/// 5. The io_uring build of the baseline is another program (Asio picks its backend at
/// compile time). Starts it, runs the load against it, stops it. Returns a row either way.
Row io_uring_row(const LoadOptions& load) {
  Row row{"5 baseline on io_uring (not epoll)", {}, "", false};
  auto program = std::filesystem::read_symlink("/proc/self/exe").parent_path() /
                 "020_performance_tuning_io_uring";
  if (!std::filesystem::exists(program)) {
    row.note = "io_uring: not built (liburing-dev missing)";
    return row;
  }
  int out[2];
  if (pipe(out) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  pid_t child = fork();
  if (child == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl(program.c_str(), program.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  char line[256] = {};  // the child prints "port N" or "error: why"
  FILE* from_child = fdopen(out[0], "r");
  if (!fgets(line, sizeof line, from_child)) std::strcpy(line, "error: it printed nothing\n");
  fclose(from_child);
  line[std::strcspn(line, "\n")] = '\0';
  if (std::strncmp(line, "port ", 5) == 0) {
    LoadOptions options = load;
    options.port = line + 5;
    row.result = run_load(options);
  } else {
    row.note = fmt::format("io_uring: unavailable here ({})", line);
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return row;
}

int compare(LoadOptions load) {
  unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  fmt::print("Lesson 020: measure first, then tune. Each server differs from the baseline in\n"
             "one idea; the same load generator measures all of them, one after the other:\n"
             "{} connections, each sends a {}-byte line and waits for its echo, {} s each.\n"
             "Every echoed byte is checked. xN.NN is the ratio to the baseline (row 2).\n\n",
             load.connections, load.size, load.seconds);
  std::vector<Row> rows;
  for (Variant variant : {Variant::threads, Variant::baseline, Variant::reuseport,
                          Variant::strands, Variant::small_strands}) {
    auto server = start_server(variant, cores);
    load.port = std::to_string(server->port());
    rows.push_back(Row{label(variant), run_load(load), ""});
  }
  rows.push_back(io_uring_row(load));
  for (Variant variant : {Variant::split_nagle, Variant::split_nodelay, Variant::gathered,
                          Variant::in_place}) {
    auto server = start_server(variant, cores);
    load.port = std::to_string(server->port());
    rows.push_back(Row{label(variant), run_load(load), ""});
  }
  std::string table = format_table(rows, 1);
  fmt::print("{}", table);
  std::uint64_t errors = 0;
  for (const Row& row : rows) errors += row.result ? row.result->errors : 0;
  fmt::print("\nwrong or missing echoes: {}\n", errors);
  fmt::print("What to look for: with 2 writes per echo and Nagle on, the second write waits\n"
             "for the client's delayed ACK (p50 near 40 ms); TCP_NODELAY or one gathered\n"
             "write removes the stall. The baseline's copy of each line is its one\n"
             "allocation per echo; row 7 removes it. A strand of any_io_executor allocates on\n"
             "every executor copy; a strand of io_context::executor_type fits in place.\n"
             "More threads is not automatically faster on 2 busy cores: measure.\n"
             "Profile before tuning: --help shows the perf and callgrind commands.\n");
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Many connections need many descriptors: raise the soft limit to the hard one.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty()) return compare(LoadOptions{});
    if (args[0] == "--help") return fmt::print("{}", help), 0;
    if (args[0] == "--full") return compare(LoadOptions{"127.0.0.1", "", 100, 3.0, 64, 0});
    if (args[0] == "--callgrind-baseline" && args.size() == 2) {
      auto server = start_server(Variant::baseline);
      LoadOptions options{"127.0.0.1", std::to_string(server->port()), 1, 0, 64,
                          std::stoull(args[1])};
      LoadResult r = run_load(options);
      fmt::print("{} round trips, {} errors\n", r.round_trips, r.errors);
      return r.errors == 0 ? 0 : 1;
    }
    if (args[0] == "--connect-load" && args.size() >= 3 && args.size() % 2 == 1) {
      LoadOptions options{args[1], args[2], 100, 3.0, 64, 0};
      for (std::size_t i = 3; i < args.size(); i += 2) {
        if (args[i] == "--connections") options.connections = std::stoi(args[i + 1]);
        else if (args[i] == "--seconds") options.seconds = std::stod(args[i + 1]);
        else if (args[i] == "--size") options.size = std::stoul(args[i + 1]);
        else throw std::invalid_argument("unknown option " + args[i]);
      }
      if (options.connections < 1 || options.size < 2 || options.seconds <= 0)
        throw std::invalid_argument("need --connections >= 1, --size >= 2, --seconds > 0");
      LoadResult r = run_load(options);
      fmt::print("{}:{}  {} connections x {}-byte lines, {:.1f} s: {:.0f} round trips/s, "
                 "p50 {}us, p99 {}us, {} errors{}\n",
                 options.host, options.port, options.connections, options.size, r.seconds,
                 r.per_second(), r.p50.count(), r.p99.count(), r.errors,
                 r.errors ? " (" + r.first_error + ")" : "");
      return r.errors == 0 ? 0 : 1;
    }
    fmt::print(stderr, "unknown arguments; see --help\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
