// chat_load: the load generator of project 029's benchmark (bench/chat_bench.sh).
//
// N clients connect to a chat server's line port on 127.0.0.1 (each lands in #lobby), and every
// one of them sends: "m <sender> <send time in ns>" and padding up to M bytes. Every other
// client receives each message ("[#lobby] guestK: m ..."), so one message is N-1 deliveries.
// Each delivery's latency is the time from the send to the receipt (one clock, one process).
// Flow control is a window per sender: it sends while fewer than W of its messages are still
// on their way to the next client in line (client i+1 counts client i's arrivals), so the
// server is kept busy without being flooded past its outboxes.
//
// Timeline: connect all and let the joins settle (not measured), W seconds of warm-up, D
// seconds measured, then one line of JSON on stdout:
//   {"label":...,"clients":N,"deliveries":measured,"deliveries_per_s":...,"p50_us":...,
//    "p99_us":...,"sent":...,"dropped":...,"errors":...}
// "dropped": "* guestK left ... (too slow ...)" notices seen (the server dropped a client);
// "errors": connections that ended. Exit status 0 only if both are 0 and something was measured.
//
// usage: chat_load --port P [-c CLIENTS] [-m BYTES] [-w WINDOW] [-d SECONDS] [--warmup SECONDS]
//                  [--label NAME]
// One thread, one epoll instance, non-blocking sockets: no framework.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Client {
  int fd = -1;
  std::string in, out;  // bytes read but not yet split into lines; bytes not yet written
  int in_flight = 0;    // this client's messages not yet seen by the next client
  bool want_write = false;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, clients_n = 100, window = 4;
  std::size_t size = 64;
  double seconds = 5, warmup = 1;
  std::string label = "chat";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      std::fprintf(stderr, "chat_load: %s needs a value\n", flag.c_str());
      return 2;
    }
    ++i;
    if (flag == "--port") port = std::atoi(value);
    else if (flag == "-c") clients_n = std::atoi(value);
    else if (flag == "-m") size = static_cast<std::size_t>(std::atoi(value));
    else if (flag == "-w") window = std::atoi(value);
    else if (flag == "-d") seconds = std::atof(value);
    else if (flag == "--warmup") warmup = std::atof(value);
    else if (flag == "--label") label = value;
    else {
      std::fprintf(stderr, "chat_load: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (port <= 0 || clients_n < 2) {
    std::fprintf(stderr, "usage: chat_load --port P [-c CLIENTS >= 2] [-m BYTES] [-w WINDOW] "
                         "[-d SECONDS] [--warmup SECONDS] [--label NAME]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  alarm(static_cast<unsigned>(seconds + warmup + 60));  // a server that stops answering

  const int epoll = epoll_create1(0);
  if (epoll < 0) die("epoll_create1");
  std::vector<Client> clients(static_cast<std::size_t>(clients_n));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < clients_n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
    clients[static_cast<std::size_t>(i)].fd = fd;
  }

  std::vector<std::uint64_t> histogram(1'000'001);  // latency in µs; the last bucket: >= 1 s
  std::uint64_t deliveries = 0, sent = 0, dropped = 0, errors = 0;
  bool sending = false, measuring = false;
  const auto settle_end = Clock::now() + std::chrono::milliseconds(500 + 5 * clients_n);
  Clock::time_point warmup_end{}, measure_end{};
  std::string padding(size, 'x');

  auto flush = [&](int i) {
    Client& c = clients[static_cast<std::size_t>(i)];
    while (!c.out.empty()) {
      const ssize_t n = write(c.fd, c.out.data(), c.out.size());
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        ++errors;
        c.out.clear();
        break;
      }
      c.out.erase(0, static_cast<std::size_t>(n));
    }
    const bool want = !c.out.empty();
    if (want != c.want_write) {
      epoll_event event{};
      event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      event.data.u32 = static_cast<std::uint32_t>(i);
      epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &event);
      c.want_write = want;
    }
  };
  auto send_more = [&](int i) {
    Client& c = clients[static_cast<std::size_t>(i)];
    bool any = false;
    while (sending && c.in_flight < window) {
      std::string line = "m " + std::to_string(i) + " " + std::to_string(now_ns()) + " ";
      if (line.size() + 1 < size) line.append(padding, 0, size - line.size() - 1);
      c.out += line;
      c.out += '\n';
      ++c.in_flight;
      ++sent;
      any = true;
    }
    if (any) flush(i);
  };
  auto on_line = [&](int receiver, const char* line, std::size_t length) {
    const char* marker = static_cast<const char*>(memmem(line, length, ": m ", 4));
    if (marker == nullptr || line[0] != '[') {
      if (length > 2 && line[0] == '*' && memmem(line, length, "too slow", 8) != nullptr) ++dropped;
      return;
    }
    char* end = nullptr;
    const long sender = std::strtol(marker + 4, &end, 10);
    const long long stamp = std::strtoll(end, nullptr, 10);
    if (measuring) {
      const auto micros = static_cast<std::uint64_t>(std::max<long long>(0, (now_ns() - stamp) / 1000));
      ++histogram[std::min<std::uint64_t>(micros, histogram.size() - 1)];
      ++deliveries;
    }
    if (sender >= 0 && sender < clients_n && (sender + 1) % clients_n == receiver) {
      --clients[static_cast<std::size_t>(sender)].in_flight;
      send_more(static_cast<int>(sender));
    }
  };

  std::vector<epoll_event> events(static_cast<std::size_t>(clients_n));
  char chunk[65536];
  for (;;) {
    const auto now = Clock::now();
    if (!sending && now >= settle_end) {  // joins settled: start sending, warm-up first
      sending = true;
      warmup_end = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
      measure_end = warmup_end + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      for (int i = 0; i < clients_n; ++i) send_more(i);
    }
    if (sending && !measuring && now >= warmup_end && now < measure_end) measuring = true;
    if (sending && now >= measure_end) break;
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 10);
    for (int k = 0; k < ready; ++k) {
      const int i = static_cast<int>(events[static_cast<std::size_t>(k)].data.u32);
      Client& c = clients[static_cast<std::size_t>(i)];
      if (events[static_cast<std::size_t>(k)].events & EPOLLOUT) flush(i);
      if (!(events[static_cast<std::size_t>(k)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const ssize_t n = read(c.fd, chunk, sizeof chunk);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        ++errors;
        epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      c.in.append(chunk, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (;;) {
        const void* newline = std::memchr(c.in.data() + start, '\n', c.in.size() - start);
        if (newline == nullptr) break;
        const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(newline) - c.in.data());
        on_line(i, c.in.data() + start, end - start);
        start = end + 1;
      }
      c.in.erase(0, start);
    }
  }

  auto percentile = [&](double p) -> std::uint64_t {
    const auto wanted = static_cast<std::uint64_t>(p * static_cast<double>(deliveries));
    std::uint64_t seen = 0;
    for (std::size_t us = 0; us < histogram.size(); ++us) {
      seen += histogram[us];
      if (seen > wanted) return us;
    }
    return histogram.size() - 1;
  };
  std::printf("{\"label\":\"%s\",\"clients\":%d,\"deliveries\":%llu,\"deliveries_per_s\":%.0f,"
              "\"p50_us\":%llu,\"p99_us\":%llu,\"sent\":%llu,\"dropped\":%llu,\"errors\":%llu}\n",
              label.c_str(), clients_n, static_cast<unsigned long long>(deliveries),
              static_cast<double>(deliveries) / seconds,
              static_cast<unsigned long long>(percentile(0.50)),
              static_cast<unsigned long long>(percentile(0.99)),
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(dropped),
              static_cast<unsigned long long>(errors));
  for (auto& c : clients) close(c.fd);
  return deliveries > 0 && dropped == 0 && errors == 0 ? 0 : 1;
}
