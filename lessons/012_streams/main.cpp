// Lesson 012 demo: a TCP echo server, six clients and a broadcast in one process, then
// Ctrl-C; then two writers on one socket, without and with a WriteQueue.
//   012_streams                      the demonstration (no network access beyond 127.0.0.1)
//   012_streams --serve [--port P]   a server to `nc 127.0.0.1 P` into; Ctrl-C stops it
//   012_streams --connect HOST PORT  an interactive client: type lines, see the echoes
#include <csignal>
#include <string>
#include <string_view>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <asio/read.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/core.h>

#include "command_line.hpp"
#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"
#include "sleep.hpp"
#include "streams.hpp"

using namespace std::chrono_literals;
using lesson012::EchoServer;
using lesson012::LineClient;
using lesson012::tcp;

namespace {

/// Sleeps until `when` after the start of the demo. Absolute times, not sleeps in a row, so
/// a late wake-up (a loaded machine) does not shift every later event of the demo.
asio::awaitable<void> sleep_until(std::chrono::milliseconds when) {
  return tut::sleep(when - tut::elapsed());
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

asio::awaitable<void> broadcast_then_ctrl_c(EchoServer* server) {
  co_await sleep_until(1800ms);
  server->broadcast("notice: the server stops at 2.0s\n");  // a second writer to each socket
  co_await sleep_until(2000ms);
  tut::log("main", "kill(getpid(), SIGINT), as Ctrl-C would");
  ::kill(::getpid(), SIGINT);
}

asio::awaitable<void> serve_six_clients() {
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
      broadcast_then_ctrl_c(&server);
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

/// Two producers write 256 KiB each to one socket; the peer reads both. Returns how many runs
/// of one letter it got: 2 is whole, more is interleaved.
asio::awaitable<std::size_t> two_writers(bool with_queue) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), 0});
  tcp::socket socket(executor);
  co_await socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  tcp::socket peer = co_await acceptor.async_accept(asio::use_awaitable);
  const std::string a(256 * 1024, 'a'), b(256 * 1024, 'b');
  std::string got(a.size() + b.size(), '\0');
  using namespace asio::experimental::awaitable_operators;
  auto read_all = asio::async_read(peer, asio::buffer(got), asio::use_awaitable);
  if (with_queue) {
    lesson012::WriteQueue queue(socket);
    queue.push(a);
    queue.push(b);
    queue.close();  // run() returns once both are written
    auto both = queue.run() && std::move(read_all);
    co_await std::move(both);
  } else {
    // NOT allowed: a second async_write on a socket before the first one has completed.
    auto write_a = asio::async_write(socket, asio::buffer(a), asio::use_awaitable);
    auto write_b = asio::async_write(socket, asio::buffer(b), asio::use_awaitable);
    auto all = std::move(write_a) && std::move(write_b) && std::move(read_all);
    co_await std::move(all);
  }
  std::size_t runs = 1;
  for (std::size_t i = 1; i < got.size(); ++i) runs += got[i] != got[i - 1];
  co_return got.front() == 'a' ? runs : runs + 1000;  // 'b' first: out of order
}

asio::awaitable<void> demo() {
  co_await serve_six_clients();
  // Not timed (printed without the clock): how long 512 KiB take depends on the machine.
  fmt::print("Two producers on one socket, 256 KiB of 'a' then 256 KiB of 'b':\n");
  auto runs = co_await two_writers(false);
  fmt::print("  an async_write each, at once: the peer got them {}\n",
             runs == 2 ? "whole" : fmt::format("interleaved, in {} pieces", runs));
  runs = co_await two_writers(true);
  fmt::print("  through a WriteQueue (one writer): the peer got them {}\n",
             runs == 2 ? "whole, in order" : fmt::format("in {} pieces", runs));
}

}  // namespace

int main(int argc, char* argv[]) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) {
    tut::run(demo());
    fmt::print("io_context.run() returned by itself: no work left\n");
    return 0;
  }
  if (args[0] == "--help" || args[0] == "-h") return lesson012::usage(0);
  if (args[0] == "--serve") return lesson012::serve_main({args.begin() + 1, args.end()});
  if (args[0] == "--connect" && args.size() == 3)
    return lesson012::connect_main(std::string(args[1]), std::string(args[2]));
  fmt::print(stderr, "012_streams: unexpected arguments\n");
  return lesson012::usage(2);
}
