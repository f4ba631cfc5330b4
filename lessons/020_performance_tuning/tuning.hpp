// Lesson 020: performance tuning. Measure first, then tune, and show the numbers.
//
// asyncio's advice is the same as here: profile before changing anything (cProfile,
// `python -X importtime`, loop.slow_callback_duration in debug mode), then try the usual
// levers: uvloop for a faster loop, several processes with SO_REUSEPORT for more cores,
// TCP_NODELAY (asyncio sets it on every TCP transport since 3.6), fewer copies.
//
// The tool, a load generator in a process pinned to its own CPU (how_it_is_built.hpp), runs
// ping-pong connections, every byte checked, against each echo server (Variant) in turn.
//
// Where C++/Asio differs from asyncio:
// - One process can use every core: one io_context per core (SO_REUSEPORT, no sharing) or
//   one io_context run by several threads with a strand per connection. asyncio needs one
//   process per core for that (the GIL).
// - The loop's backend is a compile-time choice (epoll by default on Linux, io_uring with
//   ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL); uvloop swaps it at run time.
// - Allocation is visible and countable: a replaced global operator new (allocation_counter.cpp).
// - io_context(ASIO_CONCURRENCY_HINT_UNSAFE) takes no locks (step 10): no other thread may
//   touch it, not even to call stop(), which 012's server allows. Here a pipe stops a server.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>

namespace lesson020 {

/// How many times operator new has been called so far, by every thread of the process.
/// allocation_counter.cpp replaces the global operator new/delete to count (an atomic add).
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
  in_place,       ///< 7: baseline without the per-line copy: writes from the read buffer
  end_of_line,    ///< 8: baseline with a memchr() end-of-line search (EndOfLine)
  every_line,     ///< 9: baseline echoing every complete line received in one write
  unsafe_hint,    ///< 10: baseline on io_context(ASIO_CONCURRENCY_HINT_UNSAFE): no locks
  tuned,          ///< 7 + 8 + 9 + 10 together: what `--serve-tuned` runs
};

/// SO_REUSEPORT, which Asio has no name for. Any type with level(), name(), data() and size()
/// is a socket option (Asio's documented SettableSocketOption): no need for Asio's internals.
struct reuse_port {
  int value = 1;
  template <typename Protocol> int level(const Protocol&) const { return SOL_SOCKET; }
  template <typename Protocol> int name(const Protocol&) const { return SO_REUSEPORT; }
  template <typename Protocol> const void* data(const Protocol&) const { return &value; }
  template <typename Protocol> std::size_t size(const Protocol&) const { return sizeof value; }
};

/// A running echo server on 127.0.0.1 (an ephemeral port), on threads of its own.
/// Destroying it stops it and joins its threads.
struct EchoServer {
  virtual ~EchoServer() = default;
  virtual unsigned short port() const = 0;
};

/// Starts `variant` on 127.0.0.1:`port` (0: a free port). `cores` is how many io_contexts
/// (reuseport) or threads (strands).
std::unique_ptr<EchoServer> start_server(Variant variant, unsigned cores = 2,
                                         unsigned short port = 0);

}  // namespace lesson020
