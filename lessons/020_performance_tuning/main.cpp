// Lesson 020 demo: measure echo servers that differ in one idea each, with one load generator.
//   020_performance_tuning             quick run: a few connections, 0.1 s warm-up + 0.25 s
//   020_performance_tuning --full      the real measurement: 100 connections, 1 s + 3 s each
//   020_performance_tuning --connect-load HOST PORT [--connections N] [--seconds S] [--size B]
//                                      [--warmup W] [--report]
//   020_performance_tuning --callgrind-baseline N   exactly N round trips against the baseline
//   020_performance_tuning --help      these modes and the profiling commands
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
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
                              [--warmup W] [--report]
       020_performance_tuning --callgrind-baseline N

No arguments: a quick comparison (4 connections, 64-byte lines, 0.1 s warm-up + 0.25 s per
variant). --full: the real one (100 connections, 64-byte lines, 1 s warm-up + 3 s per variant).
The load generator runs in a process of its own (this program with --connect-load), pinned to
the last CPU; the servers run in this process, pinned to the other CPUs (with 2 CPUs: one
CPU for every server, so the multi-core rows cannot beat the baseline there).
Use a release build:
    cmake --preset release -B /tmp/rel && cmake --build /tmp/rel --target 020_performance_tuning
--connect-load: only the load generator, against any line-echo server, e.g. asyncio's:
    /usr/bin/python3 bench/asyncio_echo.py 8888 &
    020_performance_tuning --connect-load 127.0.0.1 8888 --connections 100 --warmup 1 --seconds 3
  (--report prints machine-readable lines instead, for the parent process)
  bench/ has a load generator without Asio and C and asyncio servers to compare with
  (bench/README.md, docs/performance.md).
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
Row io_uring_row(const LoadOptions& load, int load_cpu) {
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
    row.result = run_load_in_child(options, load_cpu);
  } else {
    row.note = fmt::format("io_uring: unavailable here ({})", line);
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return row;
}

/// Allocations per round trip of a row (its server ran in this process).
double allocations_per_round_trip(const Row& row) {
  return row.result && row.result->round_trips ? double(row.result->allocations) /
                                                     row.result->round_trips : -1;
}

int compare(LoadOptions load) {
  Pinning pinning = pin_servers_away_from_load();
  unsigned cores = std::max<unsigned>(2, pinning.server_cpus.size());
  std::string server_cpus;
  for (int cpu : pinning.server_cpus) {
    // Two appends, not `"," + std::to_string(cpu)`: g++ 12 at -O3 warns (falsely) about that
    // temporary's memcpy bound, and the release preset treats warnings as errors.
    if (!server_cpus.empty()) server_cpus += ',';
    server_cpus += std::to_string(cpu);
  }
  fmt::print("Lesson 020: measure first, then tune. Each server differs from the baseline in\n"
             "one idea; the same load generator measures all of them, one after the other:\n"
             "{} connections, each sends a {}-byte line and waits for its echo, {} s each\n"
             "after {} s of warm-up. Every echoed byte is checked. The load generator is a\n"
             "process of its own{}.\n"
             "xN.NN is the ratio to the baseline (row 2).\n\n",
             load.connections, load.size, load.seconds, load.warmup,
             pinning.load_cpu < 0 ? " (one CPU: no pinning)"
                                  : fmt::format(" on CPU {}, the servers on CPU {}",
                                                pinning.load_cpu, server_cpus));
  std::vector<Row> rows;
  auto measure = [&](Variant variant) {
    auto server = start_server(variant, cores);
    load.port = std::to_string(server->port());
    rows.push_back(Row{label(variant), run_load_in_child(load, pinning.load_cpu), ""});
  };
  for (Variant variant : {Variant::threads, Variant::baseline, Variant::reuseport,
                          Variant::strands, Variant::small_strands})
    measure(variant);
  rows.push_back(io_uring_row(load, pinning.load_cpu));
  for (Variant variant : {Variant::split_nagle, Variant::split_nodelay, Variant::gathered,
                          Variant::in_place})
    measure(variant);
  fmt::print("{}", format_table(rows, 1));
  std::uint64_t errors = 0;
  for (const Row& row : rows) errors += row.result ? row.result->errors : 0;
  fmt::print("\nwrong or missing echoes: {}\n", errors);
  // Allocation counts are counts, not timings: these comparisons hold on any machine.
  double copying = allocations_per_round_trip(rows[1]), no_copy = allocations_per_round_trip(rows[9]);
  double any = allocations_per_round_trip(rows[3]), typed = allocations_per_round_trip(rows[4]);
  fmt::print("allocations per round trip: baseline {:.2f}, without the copy {:.2f}: the copy is "
             "one: {}\n", copying, no_copy, std::abs(copying - no_copy - 1) < 0.2 ? "yes" : "NO");
  fmt::print("strand<any_io_executor> {:.2f}, strand<io_context::executor_type> {:.2f}: the "
             "typed strand allocates less: {}\n", any, typed, typed >= 0 && any > typed + 1
                                                                  ? "yes" : "NO");
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
    if (args.empty()) {
      LoadOptions quick;
      quick.warmup = 0.1;
      return compare(quick);
    }
    if (args[0] == "--help") return fmt::print("{}", help), 0;
    if (args[0] == "--full") {
      LoadOptions full;
      full.connections = 100;
      full.warmup = 1;
      full.seconds = 3;
      return compare(full);
    }
    if (args[0] == "--callgrind-baseline" && args.size() == 2) {
      auto server = start_server(Variant::baseline);
      LoadOptions options;
      options.port = std::to_string(server->port());
      options.connections = 1;
      options.round_trips_each = std::stoull(args[1]);
      LoadResult r = run_load(options);
      fmt::print("{} round trips, {} errors\n", r.round_trips, r.errors);
      return r.errors == 0 ? 0 : 1;
    }
    if (args[0] == "--connect-load" && args.size() >= 3) {
      LoadOptions options;
      options.host = args[1];
      options.port = args[2];
      options.connections = 100;
      options.seconds = 3;
      bool report = false;
      for (std::size_t i = 3; i < args.size(); ++i) {
        if (args[i] == "--report") { report = true; continue; }
        if (i + 1 == args.size()) throw std::invalid_argument("no value after " + args[i]);
        if (args[i] == "--connections") options.connections = std::stoi(args[++i]);
        else if (args[i] == "--seconds") options.seconds = std::stod(args[++i]);
        else if (args[i] == "--size") options.size = std::stoul(args[++i]);
        else if (args[i] == "--warmup") options.warmup = std::stod(args[++i]);
        else throw std::invalid_argument("unknown option " + args[i]);
      }
      if (options.connections < 1 || options.size < 2 || options.seconds <= 0 ||
          options.warmup < 0)
        throw std::invalid_argument("need --connections >= 1, --size >= 2, --seconds > 0, "
                                    "--warmup >= 0");
      if (report) {  // for run_load_in_child(): each edge of the window, and wait for its
        options.on_window = [](bool open) {  // answer; at the end one line with the result
          std::fputs(open ? "window open\n" : "window closed\n", stdout);
          std::fflush(stdout);
          char answer[8];
          if (!std::fgets(answer, sizeof answer, stdin)) std::exit(3);  // the parent is gone
        };
      }
      LoadResult r = run_load(options);
      if (report) fmt::print("{}\n", report_line(r));
      else
        fmt::print("{}:{}  {} connections x {}-byte lines, {:.1f} s after {} s of warm-up: "
                   "{:.0f} round trips/s, p50 {}us, p99 {}us, {} errors{}\n",
                   options.host, options.port, options.connections, options.size, r.seconds,
                   options.warmup, r.per_second(), r.p50.count(), r.p99.count(), r.errors,
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
