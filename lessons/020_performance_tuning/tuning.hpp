// Lesson 020: performance tuning. Measure first, then tune, and show the numbers.
//
// asyncio's advice is the same as here: profile before changing anything (cProfile,
// `python -X importtime`, loop.slow_callback_duration in debug mode), then try the usual
// levers: uvloop for a faster loop, several processes with SO_REUSEPORT for more cores,
// TCP_NODELAY (asyncio sets it on every TCP transport since 3.6), fewer copies.
//
// This lesson's tool is a load generator (run_load): N connections, each sends a fixed-size
// line and waits for its echo (ping-pong), every byte checked, a warm-up, then round trips
// counted for a fixed time, latency percentiles from a histogram. It measures echo servers
// that differ in one thing each (Variant), one after the other, from a process of its own
// pinned to another CPU than the servers (run_load_in_child), so the two do not fight over
// one core by accident and the servers' allocations can be counted alone.
//
// Where C++/Asio differs from asyncio:
// - One process can use every core: one io_context per core (SO_REUSEPORT, no sharing) or
//   one io_context run by several threads with a strand per connection. asyncio needs one
//   process per core for that (the GIL).
// - The loop's backend is a compile-time choice (epoll by default on Linux, io_uring with
//   ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL); uvloop swaps it at run time.
// - Allocation is visible and countable: a replaced global operator new (tuning.cpp).
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lesson020 {

using std::chrono::microseconds;

/// How many times operator new has been called so far, by every thread of the process.
/// tuning.cpp replaces the global operator new/delete to count (an atomic add, no more).
std::uint64_t allocation_count();

/// The echo servers the lesson compares. Each differs from `baseline` in one idea.
enum class Variant {
  threads,        ///< blocking I/O, one std::thread per connection (sync, not async)
  baseline,       ///< one io_context on one thread, a coroutine per connection
  reuseport,      ///< one io_context per core, each with its own SO_REUSEPORT acceptor
  strands,        ///< one io_context run by one thread per core, a strand per connection
  small_strands,  ///< the same with strand<io_context::executor_type>: no allocation per copy
  split_nagle,    ///< writes each echo in two pieces, Nagle on (TCP_NODELAY off)
  split_nodelay,  ///< the same two pieces with TCP_NODELAY
  gathered,       ///< the two pieces in one gathered write, Nagle on
  in_place,       ///< baseline without the per-line copy: writes from the read buffer
};

/// The row label of a variant in the table, e.g. "baseline: 1 io_context, 1 thread".
std::string label(Variant variant);

/// SO_REUSEPORT, which Asio has no name for. A socket option for set_option() is any type
/// with level(), name(), data() and size() (Asio's documented SettableSocketOption
/// requirements), so the lesson writes its own instead of using Asio's internals.
struct reuse_port {
  int value = 1;
  template <typename Protocol> int level(const Protocol&) const { return SOL_SOCKET; }
  template <typename Protocol> int name(const Protocol&) const { return SO_REUSEPORT; }
  template <typename Protocol> const void* data(const Protocol&) const { return &value; }
  template <typename Protocol> std::size_t size(const Protocol&) const { return sizeof value; }
};

/// A running echo server on 127.0.0.1 (an ephemeral port), on threads of its own.
/// Destroying it stops it and joins its threads.
class EchoServer {
 public:
  virtual ~EchoServer() = default;
  virtual unsigned short port() const = 0;
};

/// Starts `variant`. `cores` is how many io_contexts (reuseport) or threads (strands).
std::unique_ptr<EchoServer> start_server(Variant variant, unsigned cores = 2);

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

}  // namespace lesson020
