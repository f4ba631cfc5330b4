// Lesson 020: performance tuning. Measure first, then tune, and show the numbers.
//
// asyncio's advice is the same as here: profile before changing anything (cProfile,
// `python -X importtime`, loop.slow_callback_duration in debug mode), then try the usual
// levers: uvloop for a faster loop, several processes with SO_REUSEPORT for more cores,
// TCP_NODELAY (asyncio sets it on every TCP transport since 3.6), fewer copies.
//
// This lesson's tool is a load generator (run_load): N connections, each sends a fixed-size
// line and waits for its echo (ping-pong), every byte checked, round trips counted for a
// fixed time, latency percentiles from a histogram. It measures echo servers that differ in
// one thing each (Variant), in one process, on the same machine, one after the other.
//
// Where C++/Asio differs from asyncio:
// - One process can use every core: one io_context per core (SO_REUSEPORT, no sharing) or
//   one io_context run by several threads with a strand per connection. asyncio needs one
//   process per core for that (the GIL).
// - The loop's backend is a compile-time choice (epoll by default on Linux, io_uring with
//   ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL); uvloop swaps it at run time.
// - Allocation is visible and countable: a replaced global operator new (tuning.cpp).
#pragma once

#include <chrono>
#include <cstdint>
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

/// A running echo server on 127.0.0.1 (an ephemeral port), on threads of its own.
/// Destroying it stops it and joins its threads.
class EchoServer {
 public:
  virtual ~EchoServer() = default;
  virtual unsigned short port() const = 0;
};

/// Starts `variant`. `cores` is how many io_contexts (reuseport) or threads (strands).
std::unique_ptr<EchoServer> start_server(Variant variant, unsigned cores = 2);

/// What run_load() does: `connections` ping-pong loops of `size`-byte lines for `seconds`
/// (or exactly `round_trips_each` per connection when that is not 0).
struct LoadOptions {
  std::string host = "127.0.0.1";
  std::string port;
  int connections = 4;
  double seconds = 0.25;
  std::size_t size = 64;
  std::uint64_t round_trips_each = 0;
};

/// What run_load() measured.
struct LoadResult {
  std::uint64_t round_trips = 0;  ///< verified echoes
  double seconds = 0;             ///< from the first send to the last echo
  microseconds p50{}, p99{};      ///< latency of one round trip
  std::uint64_t allocations = 0;  ///< operator new calls in this process meanwhile
  std::uint64_t errors = 0;       ///< connections that ended on a wrong echo or an error
  std::string first_error;        ///< what went wrong first, if anything
  double per_second() const { return seconds > 0 ? round_trips / seconds : 0; }
};

/// The load generator. Blocks; runs its own io_context on the calling thread. Throws if it
/// cannot connect; a wrong echo, a reset or a silent server (2 s) is counted in `errors`.
LoadResult run_load(LoadOptions options);

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
