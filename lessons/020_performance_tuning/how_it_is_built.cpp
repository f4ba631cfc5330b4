// How it is built: lesson 020's measuring machinery (how_it_is_built.hpp), which a learner
// can skip: the load generator, its child process and report lines, CPU pinning, the table,
// and the program's modes other than the comparison itself.
#include "how_it_is_built.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <list>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

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
    case Variant::end_of_line: return "8 baseline + memchr end of line";
    case Variant::every_line: return "9 all lines in one write";
    case Variant::unsafe_hint: return "10 baseline, UNSAFE concurrency hint";
    case Variant::tuned: return "11 tuned: 7+8+9+10 (--serve-tuned)";
  }
  return "?";
}

namespace {
// ---- 1. Blocking I/O, one thread per connection: the sync design async replaces. ---------
class ThreadServer : public EchoServer {
 public:
  explicit ThreadServer(unsigned short port) : acceptor_(listen_on(context_, port, false)) {
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

std::unique_ptr<EchoServer> start_thread_server(unsigned short port) {
  return std::make_unique<ThreadServer>(port);
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
  std::uint64_t echoes = 0;  // every verified echo, warm-up included: progress
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
  const std::size_t size = state->options.size, depth = state->options.depth;
  std::string sent(size * depth, 'x'), echoed(size * depth, '\0');
  std::uint64_t k = 0;
  try {
    socket.set_option(tcp::no_delay(true));
    for (; state->options.round_trips_each ? k < state->options.round_trips_each
                                           : clock::now() < state->stop_sending; ++k) {
      // Different lines every time, so an echo of a stale or foreign line is caught.
      for (std::size_t i = 0; i < sent.size(); ++i)
        sent[i] = (i + 1) % size == 0 ? '\n' : 'a' + (id * 7 + k + i) % 26;
      auto start = clock::now();
      co_await asio::async_write(socket, asio::buffer(sent), asio::use_awaitable);
      co_await asio::async_read(socket, asio::buffer(echoed), asio::use_awaitable);
      if (echoed != sent) throw std::runtime_error("the echo differs from the line sent");
      ++state->echoes;
      if (state->measuring) {  // warm-up round trips are checked, not counted
        state->latency.add(clock::now() - start);
        state->result.round_trips += depth;
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
  // A server that stops answering must not hang the generator: it gives up after 2 s
  // without a single echo (in time mode, also 2 s after the window). Not a fixed total: on a
  // slow machine (a sanitizer build, a loaded CI) a count takes longer, not forever.
  auto last_chance = time_mode ? clock::now() + seconds(options.warmup + options.seconds) +
                                     std::chrono::seconds(2)
                               : clock::time_point::max();
  for (std::uint64_t seen = ~0ull; state->running > 0 && state->echoes != seen &&
                                   clock::now() < last_chance;) {
    seen = state->echoes;
    context.run_for(std::chrono::seconds(2));
  }
  if (state->running > 0) {
    state->result.errors += state->running;
    if (state->result.first_error.empty()) state->result.first_error = "no echo within 2 s";
  }
  close_window(state.get());  // if nothing closed it yet
  LoadResult result = state->result;
  result.allocations = state->allocations_closed - state->allocations_open;
  result.seconds = std::chrono::duration<double>(state->window_closed - state->window_open).count();
  auto rounds = result.round_trips / options.depth;  // the histogram has one entry per round
  result.p50 = state->latency.percentile(0.50, rounds);
  result.p99 = state->latency.percentile(0.99, rounds);
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
                                "--warmup", fmt::format("{}", options.warmup),
                                "--depth", std::to_string(options.depth), "--report"};
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


// ---- The program's other modes. ------------------------------------------------------------
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

int connect_load_main(const std::vector<std::string>& args) {
  LoadOptions options;
  options.host = args.at(1);
  options.port = args.at(2);
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
    else if (args[i] == "--depth") options.depth = std::stoi(args[++i]);
    else throw std::invalid_argument("unknown option " + args[i]);
  }
  if (options.connections < 1 || options.size < 2 || options.seconds <= 0 ||
      options.warmup < 0 || options.depth < 1)
    throw std::invalid_argument("need --connections >= 1, --size >= 2, --seconds > 0, "
                                "--warmup >= 0, --depth >= 1");
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

std::optional<Variant> variant_named(const std::string& name) {
  static const std::pair<const char*, Variant> names[] = {
      {"threads", Variant::threads},         {"baseline", Variant::baseline},
      {"reuseport", Variant::reuseport},     {"strands", Variant::strands},
      {"small_strands", Variant::small_strands}, {"split_nagle", Variant::split_nagle},
      {"split_nodelay", Variant::split_nodelay}, {"gathered", Variant::gathered},
      {"in_place", Variant::in_place},       {"end_of_line", Variant::end_of_line},
      {"every_line", Variant::every_line},   {"unsafe_hint", Variant::unsafe_hint},
      {"tuned", Variant::tuned}};
  for (const auto& [known, variant] : names)
    if (name == known) return variant;
  return std::nullopt;
}

int serve_main(Variant variant, const std::vector<std::string>& args) {
  unsigned long port = 0;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    if (args[i] != "--port" || i + 1 == args.size())
      throw std::invalid_argument("expected --port P, not " + args[i]);
    port = std::stoul(args[i + 1]);
    if (port > 65535) throw std::invalid_argument("--port needs 0-65535");
  }
  // SIGINT and SIGTERM blocked in every thread (the server's threads inherit the mask), and
  // taken here by sigwait(): the server is stopped by its destructor, on this thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto server = start_server(variant, 2, static_cast<unsigned short>(port));
  fmt::print("listening on 127.0.0.1:{} ({}); Ctrl-C stops\n", server->port(), label(variant));
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.reset();
  fmt::print("stopped by {}\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  return 0;
}

}  // namespace lesson020
