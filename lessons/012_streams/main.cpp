// Lesson 012 demo: a TCP echo server and six clients in one process, then Ctrl-C.
//   012_streams                      the demonstration (no network access beyond 127.0.0.1)
//   012_streams --serve [--port P]   a server to `nc 127.0.0.1 P` into; Ctrl-C stops it
//   012_streams --connect HOST PORT  an interactive client: type lines, see the echoes
#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
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
             "       012_streams --serve [--port P] [--max-line N] [--idle-timeout S]\n"
             "                                     an echo server on 127.0.0.1 until Ctrl-C\n"
             "                                     (defaults: port 0 = any free port,\n"
             "                                     max line 65536 bytes, idle timeout 60 s);\n"
             "                                     try it with: nc 127.0.0.1 P\n"
             "       012_streams --connect HOST PORT\n"
             "                                     an interactive client: lines typed on stdin\n"
             "                                     go to the server, its replies are printed\n"
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

int serve(std::vector<std::string_view> args) {
  unsigned long port = 0;
  lesson012::ServerOptions options;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    auto flag = args[i];
    std::optional<unsigned long> value;
    if (i + 1 < args.size()) {
      if (flag == "--port") value = number(args[i + 1], 65535);
      if (flag == "--max-line") value = number(args[i + 1], 1ul << 30);
      if (flag == "--idle-timeout") value = number(args[i + 1], 86400);
    }
    if (flag != "--port" && flag != "--max-line" && flag != "--idle-timeout") {
      fmt::print(stderr, "012_streams: unknown option '{}'\n", flag);
      return usage(2);
    }
    if (!value || (flag != "--port" && *value == 0)) {
      fmt::print(stderr, "012_streams: {} needs a number ({})\n", flag,
                 flag == "--port" ? "0-65535" : flag == "--max-line" ? "bytes, > 0" : "seconds, > 0");
      return 2;
    }
    if (flag == "--port") port = *value;
    if (flag == "--max-line") options.max_line = *value;
    if (flag == "--idle-timeout") options.idle_timeout = std::chrono::seconds(*value);
  }

  // A promise to Asio: only this thread ever touches this io_context (no post() or stop()
  // from elsewhere; Ctrl-C arrives through a pipe the reactor reads on this thread). Asio
  // then takes no locks at all, a seventh fewer instructions per echo (docs/performance.md).
  // The demonstration and the tests keep the default, which is safe from any thread.
  asio::io_context io_context(ASIO_CONCURRENCY_HINT_UNSAFE);
  std::optional<EchoServer> server;
  try {
    tcp::endpoint where(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
    server.emplace(io_context.get_executor(), where, options);
  } catch (const std::system_error& e) {
    fmt::print(stderr, "012_streams: cannot listen on 127.0.0.1:{}: {}\n", port,
               e.code().message());
    return 1;
  }
  fmt::print("listening on 127.0.0.1:{} (max line {} bytes, idle timeout {}); "
             "try: nc 127.0.0.1 {}; Ctrl-C stops\n",
             server->port(), options.max_line, tut::seconds(options.idle_timeout),
             server->port());
  std::fflush(stdout);
  asio::co_spawn(io_context, server->serve(), tut::rethrow);
  asio::co_spawn(io_context, server->stop_on_signals(), tut::rethrow);
  io_context.run();  // returns by itself once the server has shut down
  fmt::print("stopped: {} connections, {} lines echoed\n", server->stats().accepted,
             server->stats().lines_echoed);
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
