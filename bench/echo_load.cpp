// echo_load: the load generator of the benchmarks (docs/performance.md, bench/run.sh).
//
// N connections to an echo server on 127.0.0.1, strict ping-pong: each connection sends one
// message of M bytes, waits until exactly those M bytes have come back, checks every byte,
// records the round trip's latency and sends the next message. One thread, one epoll
// instance, non-blocking sockets: no framework, so the generator measures the server, not
// itself. Every message differs from the one before (its bytes depend on the connection and
// the message number), so a stale, duplicated, reordered or corrupted echo is caught.
//
// Timeline: connect all (before the clock starts), W seconds of warm-up (not counted: caches,
// the server's buffers and the CPU frequency settle), D seconds measured, then no new
// messages; the ones in flight are waited for (up to 2 s). Then ONE line of JSON on stdout:
//   {"label":...,"round_trips":measured,"rt_per_s":...,"p50_us":...,"p99_us":...,
//    "completed_total":all (warm-up included),"verified_bytes":...,"mismatched":...,
//    "errors":...,"client_cpu_pct":...}
// Exit status 0 only if every echo matched, no connection failed and something was measured.
//
// usage: echo_load --port P [--host 127.0.0.1] [-c CONNECTIONS] [-m BYTES] [-d SECONDS]
//                  [-w WARMUP_SECONDS] [--line] [--label NAME] [--max-round-trips N]
//   --line: each message is M-1 printable bytes and '\n' (for read-until-newline servers);
//           without it the bytes are printable and contain no '\n'.
//   --max-round-trips N: stop sending after N round trips in all (a bounded smoke test).
// A watchdog (alarm) ends the process if a server stops answering altogether.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 100;
  std::size_t size = 64;
  double seconds = 5;
  double warmup = 1;
  bool line = false;
  std::string label;
  std::uint64_t max_round_trips = 0;  // 0: no limit
};

struct Connection {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint64_t sequence = 0;  // messages sent so far
  std::string message;         // the message in flight
  std::size_t written = 0;     // of `message`, accepted by the kernel
  std::size_t received = 0;    // of `message`, echoed and checked so far
  bool in_flight = false;
  bool want_out = false;       // registered for EPOLLOUT too (the kernel's buffer was full)
  Clock::time_point sent_at;
};

struct Totals {
  std::uint64_t measured = 0, completed = 0, verified_bytes = 0, mismatched = 0, errors = 0;
  std::vector<double> latencies_us;  // of the measured round trips
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "echo_load: %s\nusage: echo_load --port P [--host 127.0.0.1] [-c CONNECTIONS] "
               "[-m BYTES] [-d SECONDS] [-w WARMUP_SECONDS] [--line] [--label NAME] "
               "[--max-round-trips N]\n",
               why);
  std::exit(64);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--port") o.port = std::atoi(value());
    else if (arg == "--host") o.host = value();
    else if (arg == "-c" || arg == "--connections") o.connections = std::atoi(value());
    else if (arg == "-m" || arg == "--size") o.size = std::strtoul(value(), nullptr, 10);
    else if (arg == "-d" || arg == "--seconds") o.seconds = std::atof(value());
    else if (arg == "-w" || arg == "--warmup") o.warmup = std::atof(value());
    else if (arg == "--line") o.line = true;
    else if (arg == "--label") o.label = value();
    else if (arg == "--max-round-trips") o.max_round_trips = std::strtoull(value(), nullptr, 10);
    else usage(("unknown argument " + arg).c_str());
  }
  if (o.port <= 0 || o.port > 65535) usage("--port must be 1..65535");
  if (o.connections < 1 || o.connections > 10000) usage("-c must be 1..10000");
  if (o.size < 2 || o.size > (1 << 24)) usage("-m must be 2..16777216");
  if (!(o.seconds > 0 && o.seconds <= 600)) usage("-d must be in (0, 600]");
  if (!(o.warmup >= 0 && o.warmup <= 60)) usage("-w must be in [0, 60]");
  return o;
}

/// The bytes of message `sequence` on connection `id`: printable, different every time.
void fill(std::string& message, std::uint32_t id, std::uint64_t sequence, bool line) {
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<char>('!' + (id * 31 + sequence * 7 + i) % 94);  // '!'..'~'
  if (line) message.back() = '\n';
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  auto k = static_cast<std::size_t>(std::ceil(p * values.size())) - 1;
  k = std::min(k, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  alarm(static_cast<unsigned>(options.warmup + options.seconds) + 30);  // the watchdog
  rlimit files{};  // 100+ connections need descriptors: raise the soft limit to the hard one
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1)
    usage("--host must be an IPv4 address");

  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> connections(options.connections);
  for (int i = 0; i < options.connections; ++i) {
    Connection& c = connections[i];
    c.id = static_cast<std::uint32_t>(i);
    c.message.resize(options.size);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    // A blocking connect, before the clock starts: connecting is not what is measured.
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      std::printf("{\"label\":\"%s\",\"error\":\"cannot connect to %s:%d: %s\"}\n",
                  json_escape(options.label).c_str(), options.host.c_str(), options.port,
                  std::strerror(errno));
      return 1;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &c;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c.fd, &event);
  }

  Totals totals;
  totals.latencies_us.reserve(1 << 20);
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.warmup));
  const auto measure_until = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(options.seconds));
  const auto give_up = measure_until + std::chrono::seconds(2);
  double cpu_from = options.warmup == 0 ? cpu_seconds() : -1, cpu_until = -1;
  std::uint64_t sent = 0;  // messages started, for --max-round-trips

  auto drop = [&](Connection& c) {
    ++totals.errors;
    close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    c.in_flight = false;
  };
  // Sends what the kernel takes of the message in flight; EPOLLOUT only while it is full.
  auto write_some = [&](Connection& c) {
    while (c.written < c.message.size()) {
      ssize_t n = send(c.fd, c.message.data() + c.written, c.message.size() - c.written,
                       MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) return drop(c);
      c.written += static_cast<std::size_t>(n);
    }
    bool blocked = c.written < c.message.size();
    if (blocked != c.want_out) {  // a system call only when the interest changes
      epoll_event event{};
      event.events = EPOLLIN | (blocked ? EPOLLOUT : 0u);
      event.data.ptr = &c;
      epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &event);
      c.want_out = blocked;
    }
  };
  auto send_next = [&](Connection& c, Clock::time_point now) {
    if (now >= measure_until || (options.max_round_trips && sent >= options.max_round_trips))
      return;  // the run is over for this connection
    fill(c.message, c.id, c.sequence++, options.line);
    c.written = c.received = 0;
    c.in_flight = true;
    c.sent_at = Clock::now();
    ++sent;
    write_some(c);
  };
  for (Connection& c : connections) send_next(c, start);

  std::vector<char> incoming(std::max<std::size_t>(options.size, 64 * 1024));
  std::vector<epoll_event> events(256);
  for (;;) {
    auto now = Clock::now();
    if (cpu_from < 0 && now >= measure_from) cpu_from = cpu_seconds();
    if (cpu_until < 0 && now >= measure_until) cpu_until = cpu_seconds();
    bool busy = std::any_of(connections.begin(), connections.end(),
                            [](const Connection& c) { return c.in_flight; });
    if (!busy || now >= give_up) break;
    auto next = now < measure_from ? measure_from : now < measure_until ? measure_until : give_up;
    int timeout_ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next - now)
                             .count()) + 1;
    int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      Connection& c = *static_cast<Connection*>(events[i].data.ptr);
      if (c.fd < 0) continue;
      if (events[i].events & EPOLLOUT) write_some(c);
      if (c.fd < 0 || !(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t got = recv(c.fd, incoming.data(), incoming.size(), 0);
      if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (got <= 0 || !c.in_flight || c.received + got > c.message.size()) {
        drop(c);  // closed, failed, or sent bytes nobody asked for
        continue;
      }
      // Every echoed byte is compared with the byte sent.
      if (std::memcmp(incoming.data(), c.message.data() + c.received, got) != 0) {
        ++totals.mismatched;
        drop(c);
        continue;
      }
      c.received += static_cast<std::size_t>(got);
      if (c.received < c.message.size()) continue;
      auto done = Clock::now();
      c.in_flight = false;
      ++totals.completed;
      totals.verified_bytes += c.message.size();
      if (done >= measure_from && done < measure_until) {  // inside the measured window
        ++totals.measured;
        totals.latencies_us.push_back(
            std::chrono::duration<double, std::micro>(done - c.sent_at).count());
      }
      send_next(c, done);
    }
  }
  for (Connection& c : connections) {
    if (c.in_flight) ++totals.errors;  // no echo within 2 s of the end
    if (c.fd >= 0) close(c.fd);
  }
  if (cpu_from < 0) cpu_from = cpu_seconds();
  if (cpu_until < 0) cpu_until = cpu_seconds();

  double p50 = percentile(totals.latencies_us, 0.50), p99 = percentile(totals.latencies_us, 0.99);
  std::printf("{\"label\":\"%s\",\"connections\":%d,\"size\":%zu,\"line\":%s,"
              "\"warmup_s\":%g,\"seconds\":%g,\"round_trips\":%" PRIu64 ",\"rt_per_s\":%.1f,"
              "\"p50_us\":%.1f,\"p99_us\":%.1f,\"completed_total\":%" PRIu64
              ",\"verified_bytes\":%" PRIu64 ",\"mismatched\":%" PRIu64 ",\"errors\":%" PRIu64
              ",\"client_cpu_pct\":%.1f}\n",
              json_escape(options.label).c_str(), options.connections, options.size,
              options.line ? "true" : "false", options.warmup, options.seconds,
              totals.measured, totals.measured / options.seconds, p50, p99, totals.completed,
              totals.verified_bytes, totals.mismatched, totals.errors,
              100.0 * (cpu_until - cpu_from) / options.seconds);
  bool ok = totals.mismatched == 0 && totals.errors == 0 && totals.completed > 0;
  return ok ? 0 : 2;
}
