// Lesson 020 demo: measure echo servers that differ in one idea each, with one load generator.
//   020_performance_tuning             quick run: a few connections, 0.1 s warm-up + 0.25 s
//   020_performance_tuning --full      the real measurement: 100 connections, 1 s + 3 s each
//   020_performance_tuning --connect-load HOST PORT [--connections N] [--seconds S] [--size B]
//                                      [--warmup W] [--report]
//   020_performance_tuning --callgrind VARIANT N    exactly N round trips against one server
//   020_performance_tuning --serve-tuned [--port P]  the fully tuned server, for bench/run.sh
//   020_performance_tuning --help      these modes and the profiling commands
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "how_it_is_built.hpp"
#include "tuning.hpp"

using namespace lesson020;

namespace {

constexpr const char* help = R"(usage: 020_performance_tuning [--full | --help]
       020_performance_tuning --connect-load HOST PORT [--connections N] [--seconds S] [--size B]
                              [--warmup W] [--depth D] [--report]
       020_performance_tuning --callgrind-baseline N | --callgrind VARIANT N
       020_performance_tuning --serve-tuned [--port P] | --serve VARIANT [--port P]

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
--callgrind-baseline N: the baseline server and one connection doing exactly N round trips;
  --callgrind VARIANT N the same against another server (VARIANT: baseline, in_place,
  end_of_line, every_line, unsafe_hint, tuned, ...).
--serve-tuned: the fully tuned server (rows 7 to 10 together) on 127.0.0.1:P (0: a free
  port) until Ctrl-C or SIGTERM, to measure against the C server with bench/run.sh:
    bench/run.sh "asio_020_tuned=build/release/bin/020_performance_tuning --serve-tuned --port PORT"
  --serve VARIANT: the same for any one row's server.

Profiling (measure first):
  perf stat -e task-clock,context-switches,cpu-migrations 020_performance_tuning --full
  perf record -g 020_performance_tuning --full && perf report
      (in a VM without hardware counters, `perf stat -e instructions` says <not supported>;
       perf record then falls back to the cpu-clock software event)
  valgrind --tool=callgrind 020_performance_tuning --callgrind-baseline 1000
  valgrind --tool=callgrind 020_performance_tuning --callgrind-baseline 2000
      (instructions per round trip = (total of the second - total of the first) / 1000:
       the difference cancels start-up; callgrind_annotate callgrind.out.PID shows where;
       the same with --callgrind end_of_line N shows what step 8's memchr() saves)
)";

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
             "after {} s of warm-up (rows 9: 8 lines in flight per connection, counted as 8\n"
             "round trips). Every echoed byte is checked. The load generator is a\n"
             "process of its own{}.\n"
             "xN.NN is the ratio to the baseline (row 2).\n\n",
             load.connections, load.size, load.seconds, load.warmup,
             pinning.load_cpu < 0 ? " (one CPU: no pinning)"
                                  : fmt::format(" on CPU {}, the servers on CPU {}",
                                                pinning.load_cpu, server_cpus));
  std::vector<Row> rows;
  auto measure = [&](Variant variant, std::string name = "", int depth = 1) {
    auto server = start_server(variant, cores);
    LoadOptions options = load;
    options.port = std::to_string(server->port());
    options.depth = depth;
    rows.push_back(Row{name.empty() ? label(variant) : name,
                       run_load_in_child(options, pinning.load_cpu), ""});
    return rows.size() - 1;
  };
  measure(Variant::threads);
  auto baseline = measure(Variant::baseline);
  measure(Variant::reuseport);
  auto any_strand = measure(Variant::strands), typed_strand = measure(Variant::small_strands);
  rows.push_back(io_uring_row(load, pinning.load_cpu));
  for (Variant variant : {Variant::split_nagle, Variant::split_nodelay, Variant::gathered})
    measure(variant);
  auto no_copy = measure(Variant::in_place);
  measure(Variant::end_of_line);
  // Step 9 only matters when a read brings several lines: both rows get 8 lines at a time.
  auto lines_8 = measure(Variant::baseline, "9 baseline, 8 lines in flight", 8);
  auto at_once_8 = measure(Variant::every_line, "9 all lines in one write, 8 in flight", 8);
  measure(Variant::unsafe_hint);
  auto tuned = measure(Variant::tuned);
  fmt::print("{}", format_table(rows, baseline));
  std::uint64_t errors = 0;
  for (const Row& row : rows) errors += row.result ? row.result->errors : 0;
  fmt::print("\nwrong or missing echoes: {}\n", errors);
  // Allocation counts are counts, not timings: these comparisons hold on any machine.
  auto each = [&](std::size_t row) { return allocations_per_round_trip(rows[row]); };
  auto verdict = [](bool yes) { return yes ? "yes" : "NO"; };
  fmt::print("allocations per round trip: baseline {:.2f}, without the copy {:.2f}: the copy is "
             "one: {}\n", each(baseline), each(no_copy),
             verdict(std::abs(each(baseline) - each(no_copy) - 1) < 0.2));
  fmt::print("strand<any_io_executor> {:.2f}, strand<io_context::executor_type> {:.2f}: the "
             "typed strand allocates less: {}\n", each(any_strand), each(typed_strand),
             verdict(each(typed_strand) >= 0 && each(any_strand) > each(typed_strand) + 1));
  fmt::print("8 lines in flight: {:.2f} allocations per line, {:.2f} with all lines in one "
             "write: one copy per read, not per line: {}\n", each(lines_8), each(at_once_8),
             verdict(each(lines_8) > 0.8 && each(at_once_8) >= 0 && each(at_once_8) < 0.5));
  fmt::print("tuned server: {:.2f} allocations per round trip: none: {}\n", each(tuned),
             verdict(each(tuned) >= 0 && each(tuned) < 0.05));
  fmt::print("What to look for: with 2 writes per echo and Nagle on, the second write waits\n"
             "for the client's delayed ACK (p50 near 40 ms); TCP_NODELAY or one gathered\n"
             "write removes the stall. The baseline's copy of each line is its one\n"
             "allocation per echo; row 7 removes it. A strand of any_io_executor allocates on\n"
             "every executor copy; a strand of io_context::executor_type fits in place.\n"
             "Rows 8 and 10 save instructions, not system calls: on a loaded machine their\n"
             "gain hides in the noise (count them: --callgrind). Row 10's io_context takes no\n"
             "locks, so no other thread may touch it, not even stop(): lesson 012 must not.\n"
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
    if ((args[0] == "--callgrind-baseline" && args.size() == 2) ||
        (args[0] == "--callgrind" && args.size() == 3)) {
      auto variant = args.size() == 2 ? Variant::baseline : variant_named(args[1]);
      if (!variant) throw std::invalid_argument("unknown variant " + args[1]);
      auto server = start_server(*variant);
      LoadOptions options;
      options.port = std::to_string(server->port());
      options.connections = 1;
      options.round_trips_each = std::stoull(args.back());
      LoadResult r = run_load(options);
      fmt::print("{} round trips, {} errors\n", r.round_trips, r.errors);
      return r.errors == 0 ? 0 : 1;
    }
    if (args[0] == "--connect-load" && args.size() >= 3) return connect_load_main(args);
    if (args[0] == "--serve-tuned") return serve_main(Variant::tuned, {args.begin() + 1, args.end()});
    if (args[0] == "--serve" && args.size() >= 2 && variant_named(args[1]))
      return serve_main(*variant_named(args[1]), {args.begin() + 2, args.end()});
    fmt::print(stderr, "unknown arguments; see --help\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
