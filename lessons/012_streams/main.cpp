// Lesson 012 demo: a TCP echo server and six clients in one process, then Ctrl-C.
//   012_streams                      the demonstration (no network access beyond 127.0.0.1)
//   012_streams --serve [--port P]   a server to `nc 127.0.0.1 P` into; Ctrl-C stops it
//   012_streams --connect HOST PORT  an interactive client: type lines, see the echoes
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <fmt/core.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"
#include "streams.hpp"

using namespace std::chrono_literals;
using lesson012::EchoServer;
using lesson012::LineClient;
using lesson012::tcp;

namespace {

/// Sleeps until `when` after the start of the demo. Absolute times, not sleeps in a row, so
/// a late wake-up (a loaded machine) does not shift every later event of the demo.
asio::awaitable<void> sleep_until(std::chrono::milliseconds when) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(when - tut::elapsed());
  co_await timer.async_wait(asio::use_awaitable);
}

std::string shown(std::string line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.size() > 40) return fmt::format("{}... ({} bytes)", line.substr(0, 8), line.size());
  return fmt::format("'{}'", line);
}

/// One demo client: connect at `start`, send `lines` at start, start + 300 ms, ... (reading
/// each echo), then half-close if `leave`, and print whatever else the server says.
asio::awaitable<void> visitor(std::string name, std::string port, std::chrono::milliseconds start,
                              std::vector<std::string> lines, bool leave = true) {
  co_await sleep_until(start);
  auto client = co_await LineClient::connect("127.0.0.1", port);
  bool answered = true;
  for (std::size_t i = 0; i < lines.size() && answered; ++i) {
    co_await sleep_until(start + static_cast<int>(i) * 300ms);
    co_await client.write(lines[i] + "\n");
    auto reply = co_await client.read_line();
    answered = reply == lines[i] + "\n";
    tut::log(name, "sent {}, got {}", shown(lines[i]), reply ? shown(*reply) : "end of stream");
  }
  if (leave && answered) {
    tut::log(name, "write_eof(): nothing more to send");
    client.write_eof();
  }
  try {
    while (auto line = co_await client.read_line()) tut::log(name, "server says {}", shown(*line));
  } catch (const std::system_error&) {
    // A reset after an error line: the server closed with our unread bytes in its buffer.
  }
  tut::log(name, "the server closed the connection");
}

asio::awaitable<void> send_sigint_at(std::chrono::milliseconds when) {
  co_await sleep_until(when);
  tut::log("main", "kill(getpid(), SIGINT), as Ctrl-C would");
  ::kill(::getpid(), SIGINT);
}

asio::awaitable<void> demo() {
  auto executor = co_await asio::this_coro::executor;
  lesson012::ServerOptions options;
  options.max_line = 64;
  options.idle_timeout = 500ms;
  options.shutdown_grace = 1s;
  // Port 0: the kernel picks a free port, so the demo never collides with anything.
  tcp::endpoint where(asio::ip::address_v4::loopback(), 0);
  EchoServer server(executor, where, options);
  auto port = std::to_string(server.port());
  tut::reset_clock();  // the demo's times count from here
  tut::log("server", "listening on 127.0.0.1:{}", port);

  using namespace asio::experimental::awaitable_operators;
  // Six clients at once, staggered by 100 ms so the output order is the same on every run.
  auto clients =
      visitor("alice", port, 0ms, {"hello", "how are you?", "bye"}) &&
      visitor("bob", port, 100ms, {"one", "two", "three"}) &&
      visitor("carol", port, 200ms, {"red", "green", "blue"}) &&
      visitor("mallory", port, 1000ms, {std::string(100, 'x')}) &&  // longer than max_line
      visitor("dawdler", port, 1100ms, {}, false) &&               // says nothing: idle
      visitor("zoe", port, 1700ms, {"still here"}, false) &&       // still there at Ctrl-C
      send_sigint_at(2000ms);
  auto serving = server.serve() && server.stop_on_signals();
  co_await (std::move(serving) && std::move(clients));

  const auto& stats = server.stats();
  tut::log("main", "server stopped: {} connections, {} lines echoed, {} too long, {} idle",
           stats.accepted, stats.lines_echoed, stats.too_long, stats.idle_closed);
  try {
    co_await LineClient::connect("127.0.0.1", port);
  } catch (const std::system_error& e) {
    tut::log("late", "{}", e.what());  // nobody listens any more
  }
}

int usage(int status) {
  auto* out = status == 0 ? stdout : stderr;
  fmt::print(out,
             "usage: 012_streams                   a demonstration: a server, six clients, Ctrl-C\n"
             "       012_streams --serve [--host A] [--port P] [--max-line N] [--idle-timeout S]\n"
             "                           [--grace S]\n"
             "                                     an echo server until Ctrl-C (or SIGTERM); a\n"
             "                                     second Ctrl-C closes the remaining sessions\n"
             "                                     at once. Defaults: host 127.0.0.1 (an IPv4 or\n"
             "                                     IPv6 address: ::1, 0.0.0.0, ::), port 0 = any\n"
             "                                     free port, max line 65536 bytes, idle timeout\n"
             "                                     60 s (nothing sent, or echoes not read), grace\n"
             "                                     2 s for echoes under way at Ctrl-C;\n"
             "                                     try it with: nc 127.0.0.1 P\n"
             "       012_streams --connect HOST PORT\n"
             "                                     an interactive client (HOST may be [::1]):\n"
             "                                     stdin goes to the server, its replies are\n"
             "                                     printed; exits 1 if the server closes first\n"
             "       012_streams --help            this text\n");
  return status;
}

std::optional<unsigned long> number(std::string_view text, unsigned long max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  auto value = std::strtoul(std::string(text).c_str(), nullptr, 10);
  if (value > max || text.size() > 12) return std::nullopt;
  return value;
}

/// --serve's stdout. The server logs every connection; if it printed on the event loop's
/// thread, a stdout that nobody reads (a full pipe, a terminal on hold) would freeze every
/// client. So lines go into a queue, and a thread of their own writes them out. If stdout
/// is not read, the queue stops growing at 1000 lines: the rest is dropped, and counted.
class BackgroundLog {
 public:
  BackgroundLog() { std::thread([this] { write_lines(); }).detach(); }

  void add(std::string line) {
    std::lock_guard lock(mutex_);
    if (lines_.size() >= 1000) {
      ++dropped_;
      return;
    }
    lines_.push_back(std::move(line));
    changed_.notify_all();
  }

  /// At exit: waits for the queue to be written, at most `limit` (stdout may never be read).
  void flush(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [this] { return lines_.empty() && !writing_; });
  }

 private:
  void write_lines() {  // the writer thread; it may block in write() for ever
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !lines_.empty(); });
      std::string text = std::move(lines_.front());
      lines_.pop_front();
      if (dropped_ > 0) text += fmt::format("({} log line(s) dropped: stdout was not read)\n",
                                            std::exchange(dropped_, 0));
      writing_ = true;
      lock.unlock();
      for (std::string_view left = text; !left.empty();) {
        auto n = ::write(STDOUT_FILENO, left.data(), left.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // e.g. EPIPE: nobody reads any more (SIGPIPE is ignored)
        left.remove_prefix(static_cast<std::size_t>(n));
      }
      lock.lock();
      writing_ = false;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> lines_;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
};

int serve(std::vector<std::string_view> args) {
  std::string host = "127.0.0.1";
  unsigned long port = 0;
  lesson012::ServerOptions options;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    auto flag = args[i];
    std::optional<unsigned long> value;
    bool known = flag == "--host" || flag == "--port" || flag == "--max-line" ||
                 flag == "--idle-timeout" || flag == "--grace";
    if (!known) {
      fmt::print(stderr, "012_streams: unknown option '{}'\n", flag);
      return usage(2);
    }
    if (i + 1 >= args.size()) {
      fmt::print(stderr, "012_streams: {} needs a value\n", flag);
      return 2;
    }
    if (flag == "--host") {
      host = args[i + 1];
      continue;
    }
    if (flag == "--port") value = number(args[i + 1], 65535);
    if (flag == "--max-line") value = number(args[i + 1], 1ul << 30);
    if (flag == "--idle-timeout" || flag == "--grace") value = number(args[i + 1], 86400);
    if (!value || (flag != "--port" && flag != "--grace" && *value == 0)) {
      fmt::print(stderr, "012_streams: {} needs a number ({})\n", flag,
                 flag == "--port" ? "0-65535" : flag == "--max-line" ? "bytes, > 0"
                                 : flag == "--grace"                 ? "seconds"
                                                                     : "seconds, > 0");
      return 2;
    }
    if (flag == "--port") port = *value;
    if (flag == "--max-line") options.max_line = *value;
    if (flag == "--idle-timeout") options.idle_timeout = std::chrono::seconds(*value);
    if (flag == "--grace") options.shutdown_grace = std::chrono::seconds(*value);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  asio::error_code bad_address;
  auto address = asio::ip::make_address(host, bad_address);
  if (bad_address) {
    fmt::print(stderr, "012_streams: --host needs an IPv4 or IPv6 address, not '{}'\n", host);
    return 2;
  }

  // A write to a pipe whose reader has gone (`--serve | head -n 1`) would kill the process
  // with SIGPIPE; ignored, it fails with EPIPE instead and the server goes on.
  std::signal(SIGPIPE, SIG_IGN);
  auto* log = new BackgroundLog;  // never deleted: its thread may be stuck in write() at exit
  options.log = [log](std::string_view task, std::string_view message) {
    log->add(fmt::format("[{:>5}] {:<9} {}\n", tut::seconds(tut::elapsed()), task, message));
  };

  // One thread runs this io_context; the default (locking) concurrency hint keeps stop()
  // callable from any other thread, as EchoServer documents.
  asio::io_context io_context(1);
  std::optional<EchoServer> server;
  auto shown = address.is_v6() ? fmt::format("[{}]", host) : host;
  try {
    tcp::endpoint where(address, static_cast<unsigned short>(port));
    server.emplace(io_context.get_executor(), where, options);
  } catch (const std::system_error& e) {
    fmt::print(stderr, "012_streams: cannot listen on {}:{}: {}\n", shown, port,
               e.code().message());
    return 1;
  }
  log->add(fmt::format("listening on {}:{} (max line {} bytes, idle timeout {}); "
                       "try: nc {} {}; Ctrl-C stops\n",
                       shown, server->port(), options.max_line,
                       tut::seconds(options.idle_timeout), host, server->port()));
  asio::co_spawn(io_context, server->serve(), tut::rethrow);
  asio::co_spawn(io_context, server->stop_on_signals(), tut::rethrow);
  io_context.run();  // returns by itself once the server has shut down
  log->add(fmt::format("stopped: {} connections, {} lines echoed\n", server->stats().accepted,
                       server->stats().lines_echoed));
  log->flush(std::chrono::seconds(2));
  return 0;
}

int connect(std::string host, std::string port) {
  asio::io_context io_context(1);
  auto print = [](std::string_view line) {
    fmt::print("{}", line);
    std::fflush(stdout);
  };
  auto status = asio::co_spawn(
      io_context, lesson012::interactive_client(host, port, STDIN_FILENO, print), asio::use_future);
  io_context.run();
  return status.get();
}

}  // namespace

int main(int argc, char* argv[]) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    tut::run(demo());
    fmt::print("io_context.run() returned by itself: no work left\n");
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h") return usage(0);
  if (args[0] == "--serve") return serve({args.begin() + 1, args.end()});
  if (args[0] == "--connect" && args.size() == 3)
    return connect(std::string(args[1]), std::string(args[2]));
  fmt::print(stderr, "012_streams: unexpected arguments\n");
  return usage(2);
}
