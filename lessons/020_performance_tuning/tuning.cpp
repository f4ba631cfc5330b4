// Lesson 020: the servers, the load generator, the allocation counter and the table.
#include "tuning.hpp"

#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/core.h>

#include "echo_session.hpp"

namespace lesson020 {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

std::string label(Variant variant) {
  switch (variant) {
    case Variant::threads: return "1 threads: blocking, thread/conn";
    case Variant::baseline: return "2 baseline: 1 io_context, 1 thread";
    case Variant::reuseport: return "3 io_context per core, REUSEPORT";
    case Variant::strands: return "4 1 io_context x N threads+strands";
    case Variant::small_strands: return "4 same, strand<io_context::executor>";
    case Variant::split_nagle: return "6 2 writes/echo, Nagle on";
    case Variant::split_nodelay: return "6 2 writes/echo, TCP_NODELAY";
    case Variant::gathered: return "6 1 gathered write, Nagle on";
    case Variant::in_place: return "7 baseline, no copy of the line";
  }
  return "?";
}

namespace {

tcp::acceptor listen_on(asio::io_context& context, unsigned short port, bool reuseport) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  tcp::acceptor acceptor(context, endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  if (reuseport) acceptor.set_option(reuse_port{});     // several listeners, one port:
  acceptor.bind(endpoint);                                // the kernel spreads connections
  acceptor.listen();
  return acceptor;
}

// ---- 2, 3, 4, 6, 7: io_context servers. ---------------------------------------------------
// `contexts` io_contexts (one acceptor each) run by `threads_each` threads each.
class ContextServer : public EchoServer {
 public:
  ContextServer(unsigned contexts, unsigned threads_each, SessionConfig config,
                PerConnection where = PerConnection::same_executor) {
    for (unsigned i = 0; i < contexts; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>());
      auto acceptor = listen_on(*contexts_.back(), port_, contexts > 1);
      port_ = acceptor.local_endpoint().port();  // the others bind the same port
      auto strand = asio::make_strand(*contexts_.back());
      asio::co_spawn(strand, accept_loop(std::move(acceptor), config, where),
                     tut_rethrow);
    }
    for (auto& context : contexts_)
      for (unsigned t = 0; t < threads_each; ++t)
        threads_.emplace_back([&context] { context->run(); });
  }
  ~ContextServer() override {
    for (auto& context : contexts_) context->stop();  // thread-safe; run() returns soon
    for (auto& thread : threads_) thread.join();
  }
  unsigned short port() const override { return port_; }

 private:
  static void tut_rethrow(std::exception_ptr e) { if (e) std::rethrow_exception(e); }
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
};

// ---- 1. Blocking I/O, one thread per connection: the sync design async replaces. ---------
class ThreadServer : public EchoServer {
 public:
  ThreadServer() : acceptor_(listen_on(context_, 0, false)) {
    acceptor_thread_ = std::thread([this] { accept_forever(); });
  }
  ~ThreadServer() override {
    stopping_ = true;
    tcp::socket wake(context_);  // a blocking accept() only returns for a connection
    std::error_code ignored;
    wake.connect(acceptor_.local_endpoint(), ignored);
    acceptor_thread_.join();
    std::lock_guard lock(mutex_);
    // Unblock each read(): shutdown() on the descriptor; the socket objects outlive joins.
    for (auto& socket : sockets_) ::shutdown(socket.native_handle(), SHUT_RDWR);
    for (auto& thread : threads_) thread.join();
  }
  unsigned short port() const override { return acceptor_.local_endpoint().port(); }

 private:
  void accept_forever() {
    for (;;) {
      tcp::socket socket(context_);
      std::error_code error;
      acceptor_.accept(socket, error);
      if (stopping_) return;
      if (error) continue;
      std::lock_guard lock(mutex_);
      tcp::socket& kept = sockets_.emplace_back(std::move(socket));
      threads_.emplace_back([&kept] { serve_blocking(kept); });
    }
  }
  static void serve_blocking(tcp::socket& socket) {
    std::error_code error;
    socket.set_option(tcp::no_delay(true), error);
    std::string buffer;
    while (!error) {  // each read and write blocks this thread, and only this one
      std::size_t n = asio::read_until(socket, asio::dynamic_buffer(buffer), '\n', error);
      if (!error) asio::write(socket, asio::buffer(buffer.data(), n), error);
      buffer.erase(0, n);
    }
  }
  asio::io_context context_;  // never run: blocking calls only need it to create sockets
  tcp::acceptor acceptor_;
  std::thread acceptor_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::list<tcp::socket> sockets_;  // a list: stable addresses for the threads
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<EchoServer> start_server(Variant variant, unsigned cores) {
  using W = SessionConfig::Write;
  switch (variant) {
    case Variant::threads: return std::make_unique<ThreadServer>();
    case Variant::baseline: return std::make_unique<ContextServer>(1, 1, SessionConfig{});
    case Variant::reuseport: return std::make_unique<ContextServer>(cores, 1, SessionConfig{});
    case Variant::strands:
      return std::make_unique<ContextServer>(1, cores, SessionConfig{},
                                             PerConnection::strand_of_any);
    case Variant::small_strands:
      return std::make_unique<ContextServer>(1, cores, SessionConfig{},
                                             PerConnection::strand_of_io_context);
    case Variant::split_nagle:
      return std::make_unique<ContextServer>(1, 1, SessionConfig{W::split_in_two, false});
    case Variant::split_nodelay:
      return std::make_unique<ContextServer>(1, 1, SessionConfig{W::split_in_two, true});
    case Variant::gathered:
      return std::make_unique<ContextServer>(1, 1, SessionConfig{W::gathered, false});
    case Variant::in_place:
      return std::make_unique<ContextServer>(1, 1, SessionConfig{W::in_place, true});
  }
  throw std::invalid_argument("unknown variant");
}

// ---- The load generator. -------------------------------------------------------------------
namespace {

/// Latency histogram: 1 us buckets below 1 ms, 10 us below 100 ms, 1 ms up to 10 s. A fixed
/// array, so recording a round trip allocates nothing (it would show in the allocation count).
struct Histogram {
  static constexpr std::array<long, 3> width{1, 10, 1000}, end{1000, 100'000, 10'000'000};
  std::array<std::uint64_t, 1000 + 9900 + 9900> counts{};
  void add(clock::duration d) {
    long us = std::min<long>(std::chrono::duration_cast<microseconds>(d).count(), end[2] - 1);
    std::size_t bucket = 0;
    for (std::size_t range = 0, start = 0; range < 3; start = end[range++]) {
      if (us < end[range]) { bucket += (us - start) / width[range]; break; }
      bucket += (end[range] - start) / width[range];
    }
    ++counts[bucket];
  }
  microseconds percentile(double p, std::uint64_t total) const {
    std::uint64_t seen = 0, wanted = std::max<std::uint64_t>(1, total * p);
    long us = 0;  // the lower edge of bucket b
    for (std::size_t b = 0, range = 0; b < counts.size(); us += width[range], ++b) {
      if (us >= end[range]) ++range;
      if ((seen += counts[b]) >= wanted) return microseconds(us);
    }
    return {};
  }
};

struct LoadState {
  LoadOptions options;
  clock::time_point stop_sending;  // time mode: when the measured window ends
  bool measuring = false;          // inside the measured window: count what completes
  Histogram latency;
  LoadResult result;
  int running = 0;
  clock::time_point window_open, window_closed;
  std::uint64_t allocations_open = 0, allocations_closed = 0;
};

// The callback may block (run_load_in_child's child waits for its parent's answer there), so
// the window opens after it returns and closes before it is called.
void open_window(LoadState* state) {
  if (state->options.on_window) state->options.on_window(true);
  state->measuring = true;
  state->allocations_open = allocation_count();
  state->window_open = clock::now();
}
void close_window(LoadState* state) {
  if (!state->measuring) return;
  state->measuring = false;
  state->allocations_closed = allocation_count();
  state->window_closed = clock::now();
  if (state->options.on_window) state->options.on_window(false);
}

/// One connection's ping-pong loop. `state` outlives the io_context run (a pointer, since a
/// coroutine's reference parameters dangle after its first suspension).
asio::awaitable<void> ping_pong(tcp::socket socket, int id, LoadState* state) {
  std::string sent(state->options.size, 'x'), echoed(state->options.size, '\0');
  std::uint64_t k = 0;
  try {
    socket.set_option(tcp::no_delay(true));
    for (; state->options.round_trips_each ? k < state->options.round_trips_each
                                           : clock::now() < state->stop_sending; ++k) {
      // A different line every time, so an echo of a stale or foreign line is caught.
      for (std::size_t i = 0; i + 1 < sent.size(); ++i) sent[i] = 'a' + (id * 7 + k + i) % 26;
      sent.back() = '\n';
      auto start = clock::now();
      co_await asio::async_write(socket, asio::buffer(sent), asio::use_awaitable);
      co_await asio::async_read(socket, asio::buffer(echoed), asio::use_awaitable);
      if (echoed != sent) throw std::runtime_error("the echo differs from the line sent");
      if (state->measuring) {  // warm-up round trips are checked, not counted
        state->latency.add(clock::now() - start);
        ++state->result.round_trips;
      }
    }
  } catch (const std::exception& e) {
    if (state->result.errors++ == 0)
      state->result.first_error = fmt::format("connection {}, round trip {}: {}", id, k, e.what());
  }
  // Count mode: the window closes with the last connection's last echo.
  if (--state->running == 0) close_window(state);
}

}  // namespace

LoadResult run_load(LoadOptions options) {
  asio::io_context context;  // one thread: the generator is never the code being tuned
  std::vector<tcp::socket> sockets;
  try {
    auto endpoints = tcp::resolver(context).resolve(options.host, options.port);
    for (int i = 0; i < options.connections; ++i) {
      sockets.emplace_back(context);
      asio::connect(sockets.back(), endpoints);  // before the clock starts
    }
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "cannot connect to " + options.host + ":" +
                                          options.port);
  }
  auto state = std::make_unique<LoadState>();
  state->options = options;
  state->running = options.connections;
  auto seconds = [](double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
  };
  // Time mode: warm-up, then a window opened by a timer and closed `seconds` after it really
  // opened (a late timer must not shorten the window); count mode: the whole run.
  asio::steady_timer opens(context), closes(context);
  bool time_mode = options.round_trips_each == 0;
  if (time_mode) {
    state->stop_sending = clock::time_point::max();  // warm-up: until the window is over
    opens.expires_after(seconds(options.warmup));
    opens.async_wait([s = state.get(), &closes, length = seconds(options.seconds)](
                         std::error_code) {
      open_window(s);
      s->stop_sending = clock::now() + length;
      closes.expires_at(s->stop_sending);
      closes.async_wait([s](std::error_code) { close_window(s); });
    });
  } else {
    open_window(state.get());
  }
  for (int i = 0; i < options.connections; ++i)
    asio::co_spawn(context, ping_pong(std::move(sockets[i]), i, state.get()),
                   [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  // A server that stops answering must not hang the generator: 2 s of grace, then give up.
  auto give_up = clock::now() + seconds(options.warmup + options.seconds) +
                 std::chrono::seconds(2);
  context.run_until(give_up);
  if (state->running > 0) {
    state->result.errors += state->running;
    if (state->result.first_error.empty()) state->result.first_error = "no echo within 2 s";
  }
  close_window(state.get());  // if nothing closed it yet
  LoadResult result = state->result;
  result.allocations = state->allocations_closed - state->allocations_open;
  result.seconds = std::chrono::duration<double>(state->window_closed - state->window_open).count();
  result.p50 = state->latency.percentile(0.50, result.round_trips);
  result.p99 = state->latency.percentile(0.99, result.round_trips);
  return result;
}

// ---- The load generator in a process of its own. ------------------------------------------
std::string report_line(const LoadResult& r) {
  return fmt::format("result {} {:.6f} {} {} {} {}", r.round_trips, r.seconds, r.p50.count(),
                     r.p99.count(), r.errors, r.first_error);
}

std::optional<LoadResult> parse_report_line(const std::string& line) {
  LoadResult r;
  unsigned long long round_trips = 0, errors = 0;
  long p50 = 0, p99 = 0;
  int used = 0;
  if (std::sscanf(line.c_str(), "result %llu %lf %ld %ld %llu%n", &round_trips, &r.seconds,
                  &p50, &p99, &errors, &used) != 5)
    return std::nullopt;
  r.round_trips = round_trips;
  r.errors = errors;
  r.p50 = microseconds(p50);
  r.p99 = microseconds(p99);
  if (line.size() > static_cast<std::size_t>(used) + 1) r.first_error = line.substr(used + 1);
  while (!r.first_error.empty() && r.first_error.back() == '\n') r.first_error.pop_back();
  return r;
}

Pinning pin_servers_away_from_load() {
  Pinning pinning;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
    return pinning;  // one CPU: nothing to separate
  cpu_set_t servers;
  CPU_ZERO(&servers);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (pinning.load_cpu >= 0) {  // the previous "last" goes to the servers
      CPU_SET(pinning.load_cpu, &servers);
      pinning.server_cpus.push_back(pinning.load_cpu);
    }
    pinning.load_cpu = cpu;
  }
  if (sched_setaffinity(0, sizeof servers, &servers) != 0) return Pinning{};
  return pinning;
}

LoadResult run_load_in_child(const LoadOptions& options, int load_cpu, std::string program) {
  // Everything the child needs is built before fork(): between fork() and exec() a child of
  // a multi-threaded process may only make system calls (another thread may hold a lock).
  std::vector<std::string> args{program, "--connect-load", options.host, options.port,
                                "--connections", std::to_string(options.connections),
                                "--seconds", fmt::format("{}", options.seconds),
                                "--size", std::to_string(options.size),
                                "--warmup", fmt::format("{}", options.warmup), "--report"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  cpu_set_t load_set;
  CPU_ZERO(&load_set);
  if (load_cpu >= 0) CPU_SET(load_cpu, &load_set);
  // One socket pair is the child's stdin and stdout: it tells us when its window opens and
  // closes, and waits for our answer each time, so that we count our allocations over the
  // same window however late this thread gets a CPU (a socket, not a pipe: send() with
  // MSG_NOSIGNAL cannot kill us with SIGPIPE if the child is gone).
  int link[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link) != 0)
    throw std::system_error(errno, std::generic_category(), "socketpair");
  pid_t child = fork();
  if (child < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (child == 0) {
    if (load_cpu >= 0) sched_setaffinity(0, sizeof load_set, &load_set);
    dup2(link[1], 0);  // dup2's copies do not inherit SOCK_CLOEXEC
    dup2(link[1], 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(link[1]);
  // Our allocations over the child's window are the servers' (this thread only reads).
  std::uint64_t open = 0, closed = 0;
  std::optional<LoadResult> result;
  char line[512];
  FILE* from_child = fdopen(link[0], "r");
  while (std::fgets(line, sizeof line, from_child)) {
    bool opens = std::strcmp(line, "window open\n") == 0;
    if (opens || std::strcmp(line, "window closed\n") == 0) {
      (opens ? open : closed) = allocation_count();
      send(link[0], "go\n", 3, MSG_NOSIGNAL);  // the child waits for this
    } else {
      result = parse_report_line(line);
    }
  }
  std::fclose(from_child);
  int status = 0;
  waitpid(child, &status, 0);
  if (!result) {
    result.emplace();
    result->errors = 1;
    result->first_error = fmt::format("the load generator {} printed no result (status {})",
                                      program, status);
  }
  result->allocations = closed >= open ? closed - open : 0;
  return *result;
}

// ---- The table. ----------------------------------------------------------------------------
double ratio(double value, double baseline) { return baseline > 0 ? value / baseline : 0; }

std::string format_table(const std::vector<Row>& rows, std::size_t baseline) {
  std::string out = fmt::format("{:<36} {:>17} {:>17} {:>17} {:>10}\n", "variant",
                                "round trips/s", "p50 latency", "p99 latency", "allocs/rt");
  const LoadResult* base = baseline < rows.size() && rows[baseline].result
                               ? &*rows[baseline].result : nullptr;
  for (const Row& row : rows) {
    if (!row.result || !base) {
      out += fmt::format("{:<36} {}\n", row.label, row.note);
      continue;
    }
    const LoadResult& r = *row.result;
    auto cell = [](std::string value, double x) { return fmt::format("{} x{:.2f}", value, x); };
    std::string allocs = "-";
    if (row.counted_allocations && r.round_trips > 0)
      allocs = fmt::format("{:.2f}", double(r.allocations) / r.round_trips);
    out += fmt::format("{:<36} {:>17} {:>17} {:>17} {:>10}{}\n", row.label,
                       cell(fmt::format("{:.0f}", r.per_second()),
                            ratio(r.per_second(), base->per_second())),
                       cell(fmt::format("{}us", r.p50.count()),
                            ratio(r.p50.count(), base->p50.count())),
                       cell(fmt::format("{}us", r.p99.count()),
                            ratio(r.p99.count(), base->p99.count())),
                       allocs, r.errors ? fmt::format("  {} ERRORS: {}", r.errors, r.first_error)
                                        : "");
  }
  return out;
}

}  // namespace lesson020
