// How it is built: lesson 020's measuring machinery, which a learner can skip: the load
// generator (run_load: connections, warm-up, measured window, latency histogram), running it
// in a child process pinned to its own CPU (run_load_in_child, the --report lines), the CPU
// pinning, the comparison table, row 1's blocking server, the row labels, and the program's
// other modes (--connect-load, --serve-tuned, --callgrind, the io_uring row). The lesson's
// ideas are in echo_session.hpp and tuning.cpp; --help lists the profiling commands.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "tuning.hpp"

namespace lesson020 {

using std::chrono::microseconds;

/// 127.0.0.1:`port`, listening (SO_REUSEPORT if `reuseport`): tuning.cpp.
asio::ip::tcp::acceptor listen_on(asio::io_context& context, unsigned short port, bool reuseport);
/// Row 1's server: blocking I/O, one std::thread per connection (the design async replaces).
std::unique_ptr<EchoServer> start_thread_server(unsigned short port);

/// What run_load() does: `connections` ping-pong loops of `size`-byte lines, `warmup` seconds
/// not counted, then `seconds` measured (or exactly `round_trips_each` per connection, all
/// counted, when that is not 0).
struct LoadOptions {
  std::string host = "127.0.0.1";
  std::string port;
  int connections = 4;
  double seconds = 0.25;
  std::size_t size = 64;
  std::uint64_t round_trips_each = 0;
  double warmup = 0;  ///< caches, buffers and the CPU clock settle before counting starts
  /// Lines in flight per connection: each round sends `depth` lines in one write and waits
  /// for all their echoes (1: strict ping-pong). Every line counts as a round trip.
  int depth = 1;
  /// Called with true when the measured window opens and false when it closes (time mode),
  /// so that another process can count its allocations over the same window.
  std::function<void(bool)> on_window;
};

/// What run_load() measured, in the measured window only.
struct LoadResult {
  std::uint64_t round_trips = 0;  ///< verified echoes
  double seconds = 0;             ///< the window: from its opening to its closing
  microseconds p50{}, p99{};      ///< latency of one round trip
  std::uint64_t allocations = 0;  ///< operator new calls in this process meanwhile
  std::uint64_t errors = 0;       ///< connections that ended on a wrong echo or an error
  std::string first_error;        ///< what went wrong first, if anything
  double per_second() const { return seconds > 0 ? round_trips / seconds : 0; }
};

/// The load generator. Blocks; runs its own io_context on the calling thread. Throws if it
/// cannot connect; a wrong echo, a reset or a silent server (2 s) is counted in `errors`.
LoadResult run_load(LoadOptions options);

/// run_load() in a separate process: `program` (the lesson program, by default this one
/// again) run with --connect-load ... --report, pinned to CPU `load_cpu` when that is >= 0.
/// So the load generator does not compete with the servers for a core, and does not show in
/// this process's allocation count: `allocations` is this process's count over the child's
/// measured window, i.e. the servers'. Its `on_window` is not used.
LoadResult run_load_in_child(const LoadOptions& options, int load_cpu,
                             std::string program = "/proc/self/exe");

/// The machine-readable lines --report prints: "window open", "window closed", and at the end
/// report_line(result). parse_report_line() reads the last back (nullopt if malformed).
std::string report_line(const LoadResult& result);
std::optional<LoadResult> parse_report_line(const std::string& line);

/// How this machine is split: the CPU the load generator gets (-1: no pinning, fewer than 2
/// CPUs allowed) and the CPUs left to this process and its servers, which are pinned there.
struct Pinning {
  int load_cpu = -1;
  std::vector<int> server_cpus;
};
/// Pins the calling process (and every thread it starts afterwards) to all allowed CPUs but
/// the last, which it keeps for the load generator.
Pinning pin_servers_away_from_load();

/// One line of the comparison table: a measurement, or a note saying why there is none.
struct Row {
  std::string label;
  std::optional<LoadResult> result;
  std::string note;
  bool counted_allocations = true;  ///< false for a server in another process
};

/// value / baseline, or 0 when there is no baseline to compare with.
double ratio(double value, double baseline);

/// The table: every row's round trips/s, p50 and p99 as a ratio to rows[baseline], and
/// allocations per round trip.
std::string format_table(const std::vector<Row>& rows, std::size_t baseline);

/// The io_uring build of the baseline is another program (Asio picks its backend at compile
/// time): starts it, runs the load against it, stops it. A row either way (a note if absent).
Row io_uring_row(const LoadOptions& load, int load_cpu);

/// `--connect-load HOST PORT [flags]`: the load generator alone; returns the exit status.
int connect_load_main(const std::vector<std::string>& args);

/// `--serve-tuned [--port P]` (and `--serve VARIANT`): one server on 127.0.0.1 until SIGINT
/// or SIGTERM, for bench/run.sh. Prints "listening on 127.0.0.1:PORT". Returns the status.
int serve_main(Variant variant, const std::vector<std::string>& args);

/// The row label of a variant in the table, e.g. "baseline: 1 io_context, 1 thread".
std::string label(Variant variant);
/// The variant named `name` on the command line ("baseline", "tuned", ...), if any.
std::optional<Variant> variant_named(const std::string& name);

}  // namespace lesson020
