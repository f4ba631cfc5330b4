// Lesson 012 tests: the echo server and client on real sockets (127.0.0.1, port 0).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include "command_line.hpp"
#include "compat.hpp"
#include "log.hpp"
#include "program.hpp"
#include "sleep.hpp"
#include "streams.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using lesson012::echo_conversation;
using lesson012::EchoServer;
using lesson012::LineClient;
using lesson012::ServerOptions;
using lesson012::WriteQueue;
using lesson012::tcp;
using tut::test::ContainsSubstring;

namespace {

using Body = std::function<asio::awaitable<void>(EchoServer*, std::string)>;

asio::awaitable<void> body_then_stop(EchoServer* server, std::string port, Body body) {
  try {
    co_await body(server, port);
  } catch (...) {
    server->stop();
    throw;
  }
  server->stop();
}

/// Runs `body` next to a fresh server on 127.0.0.1:0, then stops the server and waits for
/// serve() to return. Returns the server's final statistics.
asio::awaitable<lesson012::ServerStats> with_server(ServerOptions options, Body body) {
  auto executor = co_await asio::this_coro::executor;
  EchoServer server(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0), options);
  auto port = std::to_string(server.port());
  using namespace asio::experimental::awaitable_operators;
  auto serving = server.serve();
  auto testing = body_then_stop(&server, port, std::move(body));
  co_await (std::move(serving) && std::move(testing));
  co_return server.stats();
}

/// Runs a coroutine on its own io_context and checks that run() RETURNED BY ITSELF (no work
/// left: no forgotten timer, socket or coroutine) before `limit`, which is longer than
/// run_within's default to leave room for the slow sanitizer builds.
template <typename T>
T run_to_completion(asio::awaitable<T> coroutine, std::chrono::seconds limit = 20s) {
  return tut::test::run_within(std::move(coroutine), limit);
}

std::string line_of(std::size_t size, char fill) { return std::string(size - 1, fill) + "\n"; }

/// Reads exactly n bytes (a known echo) without read_line()'s byte-by-byte search for '\n',
/// which is slow under TSan for megabytes. std::nullopt at end of stream.
asio::awaitable<std::optional<std::string>> read_exactly(LineClient* client, std::size_t n) {
  std::string data(n, '\0');
  auto [error, got] = co_await asio::async_read(client->socket(), asio::buffer(data),
                                                 compat::as_tuple(asio::use_awaitable));
  if (error) co_return std::nullopt;
  co_return data;
}

int open_fds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (auto* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  ::closedir(dir);
  return count - 1;  // the directory stream's own descriptor
}

ServerOptions small_options() {
  ServerOptions options;
  options.max_line = 64;
  options.idle_timeout = 10s;
  options.shutdown_grace = 2s;
  return options;
}

}  // namespace

TEST_CASE("50 concurrent clients x 20 lines each get exactly their own lines back") {
  auto stats = run_to_completion(with_server(ServerOptions{}, [](EchoServer* server,
                                                               std::string port)
                                                                -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    std::vector<std::future<std::vector<std::string>>> results;
    std::vector<std::vector<std::string>> sent;
    for (int c = 0; c < 50; ++c) {
      std::vector<std::string> lines;
      for (int i = 0; i < 20; ++i) lines.push_back(fmt::format("client {} line {}", c, i));
      sent.push_back(lines);
      results.push_back(asio::co_spawn(executor, echo_conversation("127.0.0.1", port, lines),
                                       asio::use_future));
    }
    // The futures are ready once every conversation has ended; poll without blocking.
    for (auto& result : results)
      while (result.wait_for(0s) != std::future_status::ready) co_await tut::sleep(5ms);
    for (std::size_t c = 0; c < results.size(); ++c) CHECK(results[c].get() == sent[c]);
    CHECK(server->stats().active == 0);
  }));
  CHECK(stats.accepted == 50);
  CHECK(stats.lines_echoed == 1000);
  CHECK(stats.errors == 0);
}

TEST_CASE("several lines sent in one write come back as the same lines") {
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer*, std::string port)
                                                                  -> asio::awaitable<void> {
    auto client = co_await LineClient::connect("127.0.0.1", port);
    co_await client.write("a\nbb\nccc\n");
    {
      auto got = co_await client.read_line();
      CHECK(got == "a\n");
    }
    {
      auto got = co_await client.read_line();
      CHECK(got == "bb\n");
    }
    {
      auto got = co_await client.read_line();
      CHECK(got == "ccc\n");
    }
    co_await client.write("no newline at the end");
    client.write_eof();  // readline() semantics: the partial last line is still echoed
    {
      auto got = co_await client.read_line();
      CHECK(got == "no newline at the end");
    }
    {
      auto got = co_await client.read_line();
      CHECK(got == std::nullopt);
    }
  }));
  CHECK(stats.lines_echoed == 4);
}

TEST_CASE("a line that arrives in pieces is echoed once, whole, when its newline arrives") {
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer*, std::string port)
                                                                  -> asio::awaitable<void> {
    auto client = co_await LineClient::connect("127.0.0.1", port);
    // Each piece is its own TCP segment (TCP_NODELAY) and the pause lets the server read it
    // alone, so the server's search for '\n' must resume where the last one stopped.
    for (std::string piece : {"hel", "lo, wo", "rld", "\nnext", "\n"}) {
      co_await client.write(piece);
      co_await tut::sleep(20ms);
    }
    {
      auto got = co_await client.read_line();
      CHECK(got == "hello, world\n");
    }
    {
      auto got = co_await client.read_line();
      CHECK(got == "next\n");
    }
  }));
  CHECK(stats.lines_echoed == 2);
}

TEST_CASE("an over-long line gets an error line, then the connection is closed") {
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer*, std::string port)
                                                                  -> asio::awaitable<void> {
    // Exactly max_line bytes, '\n' included, is still fine.
    auto fits = co_await LineClient::connect("127.0.0.1", port);
    co_await fits.write(line_of(64, 'a'));
    {
      auto got = co_await fits.read_line();
      CHECK(got == line_of(64, 'a'));
    }

    auto client = co_await LineClient::connect("127.0.0.1", port);
    co_await client.write(line_of(65, 'b'));
    {
      auto got = co_await client.read_line();
      CHECK(got == "error: line too long (max 64 bytes)\n");
    }
    // Then the end: EOF, or a reset because the server closed with our bytes unread.
    std::optional<std::string> after;
    try {
      after = co_await client.read_line();
    } catch (const std::system_error& e) {
      CHECK(e.code() == asio::error::connection_reset);
    }
    CHECK(after == std::nullopt);

    // The other session and the server are unaffected.
    co_await fits.write("still fine\n");
    {
      auto got = co_await fits.read_line();
      CHECK(got == "still fine\n");
    }
  }));
  CHECK(stats.too_long == 1);
  CHECK(stats.lines_echoed == 2);
}

TEST_CASE("a client that disconnects mid-line or resets ends only its own session") {
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer* server,
                                                                 std::string port)
                                                                  -> asio::awaitable<void> {
    auto steady = co_await LineClient::connect("127.0.0.1", port);
    co_await steady.write("before\n");
    {
      auto got = co_await steady.read_line();
      CHECK(got == "before\n");
    }

    auto leaver = co_await LineClient::connect("127.0.0.1", port);
    co_await leaver.write("half a li");
    leaver.close();  // gone in the middle of a line

    auto resetter = co_await LineClient::connect("127.0.0.1", port);
    co_await resetter.write("hello\n");
    {
      auto got = co_await resetter.read_line();
      CHECK(got == "hello\n");
    }
    co_await resetter.write("and then");
    // SO_LINGER 0 + close: the kernel sends RST instead of FIN.
    resetter.socket().set_option(asio::socket_base::linger(true, 0));
    resetter.close();

    while (server->stats().active > 1) co_await tut::sleep(5ms);
    co_await steady.write("after\n");
    {
      auto got = co_await steady.read_line();
      CHECK(got == "after\n");
    }
    CHECK(server->stats().errors == 1);  // the reset; the leaver's EOF is not an error
  }));
  CHECK(stats.accepted == 3);
}

TEST_CASE("a client idle for longer than idle_timeout is told so and closed") {
  auto options = small_options();
  options.idle_timeout = 300ms;
  auto stats = run_to_completion(with_server(options, [](EchoServer*, std::string port)
                                                          -> asio::awaitable<void> {
    // A client that keeps talking (every 50 ms) is never idle, even for 4 x 50 ms.
    auto talker = co_await LineClient::connect("127.0.0.1", port);
    auto idler = co_await LineClient::connect("127.0.0.1", port);
    auto start = tut::clock::now();
    for (int i = 0; i < 4; ++i) {
      co_await tut::sleep(50ms);
      co_await talker.write("ping\n");
      {
        auto got = co_await talker.read_line();
        CHECK(got == "ping\n");
      }
    }
    {
      auto got = co_await idler.read_line();
      CHECK(got == "bye: idle for 0.3s\n");
    }
    {
      auto got = co_await idler.read_line();
      CHECK(got == std::nullopt);
    }
    CHECK(tut::clock::now() - start >= 300ms);
  }));
  CHECK(stats.idle_closed >= 1);
  CHECK(stats.lines_echoed == 4);
}

TEST_CASE("stop(): idle clients are told, an echo under way completes, run() returns") {
  auto options = small_options();
  options.max_line = 16 << 20;
  options.shutdown_grace = 15s;  // far longer than the test: it must not be what ends it
  auto stats = run_to_completion(with_server(options, [](EchoServer* server, std::string port)
                                                          -> asio::awaitable<void> {
    auto idle = co_await LineClient::connect("127.0.0.1", port);
    // 6 MiB: more than the kernel buffers on both sides can hold (tcp_wmem's maximum is
    // 4 MiB), so the server is still inside its async_write when we call stop().
    auto busy = co_await LineClient::connect("127.0.0.1", port);
    auto big = line_of(6 << 20, 'z');
    co_await busy.write(big);
    // The first byte back proves the server is writing the echo.
    std::string first(1, '\0');
    co_await asio::async_read(busy.socket(), asio::buffer(first), asio::use_awaitable);
    server->stop();
    {
      auto got = co_await idle.read_line();
      CHECK(got == "bye: server shutting down\n");
    }
    {
      auto got = co_await idle.read_line();
      CHECK(got == std::nullopt);
    }
    auto rest = co_await read_exactly(&busy, big.size() - 1);  // no '\n' search: cheap
    CHECK((rest && first + *rest == big));  // the whole echo, not cut by stop(), and then:
    {
      auto got = co_await busy.read_line();
      CHECK(got == "bye: server shutting down\n");
    }
    {
      auto got = co_await busy.read_line();
      CHECK(got == std::nullopt);
    }
    // New connections are refused.
    std::string refused;
    try {
      co_await LineClient::connect("127.0.0.1", port);
    } catch (const std::system_error& e) {
      refused = e.what();
    }
    CHECK_THAT(refused, ContainsSubstring("cannot connect to 127.0.0.1:"));
  }), 50s);  // 6 MiB each way: slow under TSan on a loaded machine
  CHECK(stats.lines_echoed == 1);
}

TEST_CASE("stop(): a client that never reads is closed when the grace period ends") {
  auto options = small_options();
  options.max_line = 16 << 20;
  options.shutdown_grace = 300ms;
  auto stats = run_to_completion(with_server(options, [](EchoServer* server, std::string)
                                                          -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    socket.open(tcp::v4());
    socket.set_option(asio::socket_base::receive_buffer_size(8192));
    co_await socket.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), server->port()), asio::use_awaitable);
    LineClient stuck(std::move(socket));
    co_await stuck.write(line_of(6 << 20, 's'));  // more than the kernel buffers can hold
    std::string first(1, '\0');
    co_await asio::async_read(stuck.socket(), asio::buffer(first), asio::use_awaitable);
    auto stopped = tut::clock::now();
    server->stop();  // and we never read again: only the grace period can end this
    while (server->stats().active > 0) co_await tut::sleep(10ms);  // `stuck` stays open
    CHECK(tut::clock::now() - stopped >= 300ms);
  }));
  CHECK(stats.active == 0);
  CHECK(stats.lines_echoed == 0);  // that echo never completed
}

TEST_CASE("SIGTERM stops the server through stop_on_signals()") {
  auto stats = run_to_completion([]() -> asio::awaitable<lesson012::ServerStats> {
    auto executor = co_await asio::this_coro::executor;
    EchoServer server(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    auto port = std::to_string(server.port());
    auto client = co_await LineClient::connect("127.0.0.1", port);
    using namespace asio::experimental::awaitable_operators;
    auto serving = server.serve() && server.stop_on_signals();
    auto signalling = [](std::string p) -> asio::awaitable<void> {
      auto c = co_await LineClient::connect("127.0.0.1", p);
      co_await c.write("x\n");
      {
        auto got = co_await c.read_line();
        CHECK(got == "x\n");
      }
      ::kill(::getpid(), SIGTERM);
      {
        auto got = co_await c.read_line();
        CHECK(got == "bye: server shutting down\n");
      }
    }(port);
    co_await (std::move(serving) && std::move(signalling));
    {
      auto got = co_await client.read_line();
      CHECK(got == "bye: server shutting down\n");
    }
    co_return server.stats();
  }());
  CHECK(stats.accepted == 2);
}

TEST_CASE("500 connections at once") {
  // Client and server ends live in this process: ~1000 descriptors.
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < 2048 && limit.rlim_max >= 2048) {
    limit.rlim_cur = 2048;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  REQUIRE((limit.rlim_cur >= 2048 || limit.rlim_max >= 2048));
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer* server,
                                                                 std::string port)
                                                                  -> asio::awaitable<void> {
    std::vector<LineClient> clients;
    for (int i = 0; i < 500; ++i) {
      auto client = co_await LineClient::connect("127.0.0.1", port);
      clients.push_back(std::move(client));
    }
    for (int i = 0; i < 500; ++i) co_await clients[i].write(fmt::format("{}\n", i));
    for (int i = 0; i < 500; ++i) {
      auto got = co_await clients[i].read_line();
      CHECK(got == fmt::format("{}\n", i));
    }
    CHECK(server->stats().active == 500);
  }));
  CHECK(stats.accepted == 500);
  CHECK(stats.lines_echoed == 500);
}

TEST_CASE("16 KiB and 256 KiB lines are echoed whole and without a delayed-ACK stall") {
  auto options = small_options();
  options.max_line = 1 << 20;
  run_to_completion(with_server(options, [](EchoServer*, std::string port)
                                              -> asio::awaitable<void> {
    auto client = co_await LineClient::connect("127.0.0.1", port);
    auto large = line_of(256 << 10, 'L');
    for (int i = 0; i < 5; ++i) {
      co_await client.write(large);
      {
        auto got = co_await client.read_line();
        CHECK(got == large);
      }
    }
    // 100 round trips: a stall of ~40 ms each (Nagle + delayed ACK) would need 4 s.
    auto line = line_of(16 << 10, 'm');
    auto start = tut::clock::now();
    for (int i = 0; i < 100; ++i) {
      co_await client.write(line);
      auto echo = co_await read_exactly(&client, line.size());  // no search: the server's is tested
      REQUIRE(echo == line);
    }
    CHECK(tut::clock::now() - start < 2s);
  }));
}

TEST_CASE("no file descriptor is left open after a server and its clients are gone") {
  auto before = open_fds();
  run_to_completion(with_server(small_options(), [](EchoServer* server, std::string port)
                                                      -> asio::awaitable<void> {
    auto good = co_await LineClient::connect("127.0.0.1", port);
    co_await good.write("one\n");
    {
      auto got = co_await good.read_line();
      CHECK(got == "one\n");
    }
    auto bad = co_await LineClient::connect("127.0.0.1", port);
    co_await bad.write(line_of(100, 'b'));
    {
      auto got = co_await bad.read_line();
      CHECK(got == "error: line too long (max 64 bytes)\n");
    }
    auto reset = co_await LineClient::connect("127.0.0.1", port);
    reset.socket().set_option(asio::socket_base::linger(true, 0));
    reset.close();
    auto idle = co_await LineClient::connect("127.0.0.1", port);  // still open at stop()
    while (server->stats().accepted < 4) co_await tut::sleep(5ms);
  }));
  CHECK(open_fds() == before);
}

TEST_CASE("the client reports a refused connection and a server that goes away") {
  run_to_completion([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    // A port where nobody listens: bind one, note it, close it.
    std::string free_port;
    {
      tcp::acceptor probe(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
      free_port = std::to_string(probe.local_endpoint().port());
    }
    std::string refused;
    try {
      co_await LineClient::connect("127.0.0.1", free_port);
    } catch (const std::system_error& e) {
      refused = e.what();
    }
    CHECK_THAT(refused, ContainsSubstring("cannot connect to 127.0.0.1:" + free_port));
    CHECK_THAT(refused, ContainsSubstring("refused"));

    // A name goes through the resolver; "localhost" may give ::1 first, where nobody
    // listens: async_connect() then tries the next address.
    {
      tcp::acceptor named(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
      auto named_port = std::to_string(named.local_endpoint().port());
      auto client = co_await LineClient::connect("localhost", named_port);
      CHECK(client.socket().remote_endpoint().port() == named.local_endpoint().port());
    }

    // A "server" that reads one line and hangs up without answering.
    tcp::acceptor rude(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    auto port = std::to_string(rude.local_endpoint().port());
    auto hang_up = [](tcp::acceptor* acceptor) -> asio::awaitable<void> {
      auto socket = co_await acceptor->async_accept(asio::use_awaitable);
      std::string got;
      co_await asio::async_read_until(socket, asio::dynamic_buffer(got), '\n', asio::use_awaitable);
    }(&rude);
    std::vector<std::string> lines{"first", "second", "third"};
    auto talking = echo_conversation("127.0.0.1", port, lines);
    using namespace asio::experimental::awaitable_operators;
    auto both = std::move(hang_up) && std::move(talking);
    std::string failure;
    try {
      co_await std::move(both);
    } catch (const std::runtime_error& e) {
      failure = e.what();
    }
    CHECK_THAT(failure, ContainsSubstring("closed the connection after echoing 0 of 3 lines"));
  }());
}

TEST_CASE("cancelling serve() still waits for every session to end") {
  run_to_completion([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    EchoServer server(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0),
                      small_options());
    auto port = std::to_string(server.port());
    std::optional<LineClient> client;
    // serve() || (a client connects and is echoed): the second branch wins, || cancels
    // serve() while a session still runs on `server`.
    auto talk = [](std::string p, std::optional<LineClient>* c) -> asio::awaitable<void> {
      c->emplace(co_await LineClient::connect("127.0.0.1", p));
      co_await (*c)->write("x\n");
      auto got = co_await (*c)->read_line();
      CHECK(got == "x\n");
    }(port, &client);
    using namespace asio::experimental::awaitable_operators;
    auto race = server.serve() || std::move(talk);
    co_await std::move(race);
    // serve() has returned: no session may still use the server (ASan: use after free).
    CHECK(server.stats().active == 0);
    {
      auto got = co_await client->read_line();
      CHECK(got == "bye: server shutting down\n");
    }
  }());
}

TEST_CASE("the interactive client sends input lines and prints the replies") {
  run_to_completion(with_server(small_options(), [](EchoServer*, std::string port)
                                                      -> asio::awaitable<void> {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::string input = "hello\nworld\nlast";
    REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
    ::close(fds[1]);  // end of input after "last"
    std::string printed;
    auto print = [&printed](std::string_view line) { printed += line; };
    auto code = co_await lesson012::interactive_client("127.0.0.1", port, fds[0], print);
    ::close(fds[0]);
    CHECK(code == 0);
    CHECK(printed == "hello\nworld\nlast");
  }));
}

TEST_CASE("the interactive client ends when the server goes away, even with stdin open") {
  run_to_completion([]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    tcp::acceptor rude(executor, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    auto port = std::to_string(rude.local_endpoint().port());
    auto hang_up = [](tcp::acceptor* acceptor) -> asio::awaitable<void> {
      auto socket = co_await acceptor->async_accept(asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(std::string_view("goodbye\n")),
                                 asio::use_awaitable);
    }(&rude);  // the socket closes when this coroutine ends
    int fds[2];
    REQUIRE(::pipe(fds) == 0);  // nothing is ever written, and the write end stays open
    std::string printed;
    auto print = [&printed](std::string_view line) { printed += line; };
    auto client = lesson012::interactive_client("127.0.0.1", port, fds[0], print);
    using namespace asio::experimental::awaitable_operators;
    auto both = std::move(hang_up) && std::move(client);
    int code = co_await std::move(both);  // void && int: the int
    ::close(fds[0]);
    ::close(fds[1]);
    CHECK(code == 1);  // it closed before the end of our input: not a normal end
    CHECK(printed == "goodbye\n");
  }());
}

// ------------------------------------------------------------------------------------------
// The program itself, in child processes (tut::test::Program): what a learner runs, where some
// bugs only show (signals, stdout, stdin's file status flags, two processes on one connection).

namespace {
using tut::test::Exit;
using tut::test::Program;
using tut::test::TempFile;

/// Starts `012_streams args...` with the given descriptors as its stdin, stdout and stderr
/// (-1: /dev/null for stdin, ours for stdout and stderr).
Program start_program(std::vector<std::string> args, int in, int out, int err = -1) {
  Program::Options options;
  options.in = in;
  options.out = out >= 0 ? Program::Stdout::descriptor : Program::Stdout::inherit;
  options.out_fd = out;
  options.err = err >= 0 ? Program::Stderr::descriptor : Program::Stderr::inherit;
  options.err_fd = err;
  args.insert(args.begin(), LESSON_PROGRAM);
  return Program(std::move(args), options);
}

/// It exited by itself (not killed at the limit, not by a signal) with `code`.
bool exited_with(const Exit& exit, int code) { return !exit.timed_out && exit.code == code; }

/// A pipe already holding `input`, write end closed unless `keep_open`: a child's stdin.
struct InputPipe {
  int fds[2] = {-1, -1};
  explicit InputPipe(std::string_view input, bool keep_open = false) {
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
    if (!keep_open) close_input();
  }
  void close_input() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
  ~InputPipe() {
    ::close(fds[0]);
    close_input();
  }
};

/// `012_streams --serve flags...` in a child process, its stdout a pipe we read.
struct ServerProgram {
  Program program;
  std::string host;  // what it listens on, as printed ("127.0.0.1", "[::1]")
  std::string port;

  explicit ServerProgram(std::vector<std::string> flags, int pipe_size = 0)
      : program(start(std::move(flags), pipe_size)) {
    program.read_until("; try:", 20s);
    const std::string& banner = program.output();
    auto at = banner.find("listening on ");
    if (at != std::string::npos) {
      auto address = banner.substr(at + 13, banner.find(' ', at + 13) - at - 13);
      host = address.substr(0, address.rfind(':'));
      port = address.substr(address.rfind(':') + 1);
    }
    CHECK_THAT(banner, ContainsSubstring("listening on "));
  }
  /// SIGTERM; returns how it ended and what it printed meanwhile (until it closed stdout).
  Exit stop(std::string* printed = nullptr) {
    program.signal(SIGTERM);
    const auto before = program.output().size();
    program.read_until("", 20s);
    if (printed) *printed = program.output().substr(before);
    return program.wait(20s);
  }

 private:
  static Program start(std::vector<std::string> flags, int pipe_size) {
    flags.insert(flags.begin(), {LESSON_PROGRAM, "--serve"});
    Program::Options options;
    options.pipe_size = pipe_size;
    return Program(std::move(flags), options);
  }
};
}  // namespace

TEST_CASE("the --serve program echoes for a client and exits 0 on SIGTERM") {
  // The program as a learner runs it: its own process, its own io_context and stdout, a
  // real signal to stop it.
  ServerProgram server({"--port", "0"});
  CHECK(server.host == "127.0.0.1");
  std::vector<std::string> replies;
  if (!server.port.empty()) {
    replies = run_to_completion(echo_conversation("127.0.0.1", server.port, {"hello", "world"}));
  }
  std::string rest;
  const Exit exit = server.stop(&rest);
  CHECK(replies == std::vector<std::string>{"hello", "world"});
  CHECK(exited_with(exit, 0));
  CHECK_THAT(rest, ContainsSubstring("stopped: 1 connections, 2 lines echoed"));
}

TEST_CASE("012_streams --connect: a last line without a newline is echoed, then it exits 0") {
  // `printf hello | 012_streams --connect ...`: the echo and the server's FIN arrive together.
  ServerProgram server({});
  REQUIRE(!server.port.empty());
  InputPipe input("hello");
  TempFile out;
  auto client = start_program({"--connect", "127.0.0.1", server.port}, input.fds[0], out.fd());
  auto status = client.wait(20s);
  CHECK_FALSE(status.timed_out);  // timed out: it hung, waiting for a read that never completes
  CHECK(exited_with(status, 0));
  CHECK(out.contents() == "hello");
  CHECK(exited_with(server.stop(), 0));
}

TEST_CASE("012_streams --connect leaves its stdin blocking (its file status flags are shared)") {
  ServerProgram server({});
  REQUIRE(!server.port.empty());
  InputPipe input("one\ntwo\n");
  TempFile out;
  auto client = start_program({"--connect", "127.0.0.1", server.port}, input.fds[0], out.fd());
  CHECK(exited_with(client.wait(20s), 0));
  CHECK(out.contents() == "one\ntwo\n");
  // Our descriptor and the child's stdin are one open file description, as a terminal is
  // for a shell and the programs it runs: O_NONBLOCK left there breaks the next program.
  CHECK((::fcntl(input.fds[0], F_GETFL) & O_NONBLOCK) == 0);
  CHECK(exited_with(server.stop(), 0));
}

TEST_CASE("012_streams --connect exits 1 with a message when the server closes first") {
  ServerProgram server({"--idle-timeout", "1"});
  REQUIRE(!server.port.empty());
  InputPipe input("hi\n", true);  // stdin stays open: the user has not finished
  TempFile out, err;
  auto client =
      start_program({"--connect", "127.0.0.1", server.port}, input.fds[0], out.fd(), err.fd());
  auto status = client.wait(20s);  // the server closes it after 1 s of silence
  CHECK(exited_with(status, 1));
  CHECK(out.contents() == "hi\nbye: idle for 1.0s\n");
  CHECK_THAT(err.contents(), ContainsSubstring("the server closed the connection"));
  CHECK(exited_with(server.stop(), 0));
}

TEST_CASE("012_streams --connect rejects a port above 65535 instead of wrapping it") {
  TempFile err;
  auto client = start_program({"--connect", "127.0.0.1", "99999"}, -1, -1, err.fd());
  CHECK(exited_with(client.wait(20s), 1));
  CHECK_THAT(err.contents(), ContainsSubstring("invalid port 99999"));
}

TEST_CASE("012_streams --connect sends an input line of 2 MiB whole") {
  ServerProgram server({"--max-line", std::to_string(4 << 20)});
  REQUIRE(!server.port.empty());
  TempFile in, out, err;
  auto line = line_of(2 << 20, 'w');
  REQUIRE(::write(in.fd(), line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  REQUIRE(::lseek(in.fd(), 0, SEEK_SET) == 0);
  auto client = start_program({"--connect", "127.0.0.1", server.port}, in.fd(), out.fd(), err.fd());
  CHECK(exited_with(client.wait(20s), 0));
  CHECK(err.contents() == "");
  CHECK((out.contents() == line));
  CHECK(exited_with(server.stop(), 0));
}

TEST_CASE("012_streams --serve and --connect over IPv6 ([::1])") {
  ServerProgram server({"--host", "::1"});
  REQUIRE(!server.port.empty());
  CHECK(server.host == "[::1]");
  InputPipe input("over ipv6\n");
  TempFile out;
  auto client = start_program({"--connect", "[::1]", server.port}, input.fds[0], out.fd());
  CHECK(exited_with(client.wait(20s), 0));
  CHECK(out.contents() == "over ipv6\n");
  std::string printed;
  CHECK(exited_with(server.stop(&printed), 0));
  CHECK_THAT(printed, ContainsSubstring("stopped: 1 connections, 1 lines echoed"));
}

TEST_CASE("012_streams --serve keeps serving while nobody reads its stdout") {
  ServerProgram server({}, 4096);  // a one-page pipe: full after a few dozen log lines
  REQUIRE(!server.port.empty());
  // 100 clients log ~9 KB, and we do not read it: the server must not wait for us.
  auto answered = run_to_completion([](std::string port) -> asio::awaitable<int> {
    int count = 0;
    for (int i = 0; i < 100; ++i) {
      std::vector<std::string> lines{"ping"};
      auto replies = co_await echo_conversation("127.0.0.1", port, lines);
      if (replies == lines) ++count;
    }
    co_return count;
  }(server.port));
  CHECK(answered == 100);
  std::string printed;
  CHECK(exited_with(server.stop(&printed), 0));
  CHECK_THAT(printed, ContainsSubstring("stopped: 100 connections"));
}

TEST_CASE("012_streams --serve survives its stdout being closed (`--serve | head -n 1`)") {
  ServerProgram server({});
  REQUIRE(!server.port.empty());
  server.program.close_stdout();  // head has read its line and exited
  auto replies = run_to_completion(echo_conversation("127.0.0.1", server.port, {"a", "b"}));
  CHECK(replies == std::vector<std::string>{"a", "b"});
  auto status = server.stop();
  CHECK(exited_with(status, 0));  // not killed by SIGPIPE
}

TEST_CASE("012_streams --serve closes a client that sends but never reads, after the idle timeout") {
  ServerProgram server({"--idle-timeout", "1"});
  REQUIRE(!server.port.empty());
  // 32 MiB of lines and never a read: more than every buffer on the way can hold, so the
  // server's echo blocks, it stops reading, and our write blocks too, until it gives up.
  std::string lines;
  for (int i = 0; i < 32 * 1024; ++i) lines += line_of(1024, 'n');
  auto stall = [](std::string port, const std::string* data) -> asio::awaitable<asio::error_code> {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    socket.open(tcp::v4());
    socket.set_option(asio::socket_base::receive_buffer_size(8192));
    co_await socket.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(std::stoi(port))),
        asio::use_awaitable);
    auto [error, written] = co_await asio::async_write(socket, asio::buffer(*data),
                                                       compat::as_tuple(asio::use_awaitable));
    co_return error;
  };
  auto failure = run_to_completion(stall(server.port, &lines));
  CHECK(failure);  // reset or broken pipe: the server closed the connection
  std::string printed;
  CHECK(exited_with(server.stop(&printed), 0));
  CHECK_THAT(printed, ContainsSubstring("not reading its echoes for 1.0s: closing"));
}

TEST_CASE("012_streams --serve: the error line for an over-long line reaches a client still writing") {
  ServerProgram server({"--max-line", "64"});
  REQUIRE(!server.port.empty());
  auto talk = [](std::string port, Program* program) -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    socket.open(tcp::v4());
    socket.set_option(asio::socket_base::receive_buffer_size(8192));
    co_await socket.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(std::stoi(port))),
        asio::use_awaitable);
    // 256 KiB of lines, then an over-long one, before we read anything: the echoes fill our
    // small receive buffer, so the error line waits in the server's send buffer. A server
    // that then closes with our over-long line unread sends a reset, which throws that
    // queued data away: we would see part of the echoes, then "connection reset".
    std::string sent;
    for (int i = 0; i < 4096; ++i) sent += line_of(64, 'y');
    sent += std::string(1000, 'x');
    auto [write_error, written] = co_await asio::async_write(
        socket, asio::buffer(sent), compat::as_tuple(asio::use_awaitable));
    CHECK(!write_error);
    // Read nothing before the server has given up on the line (it logs it), so that the
    // error line is still queued behind the echoes when the server closes.
    program->read_until("line too long", 20s);
    auto log = program->output();
    CHECK_THAT(log, ContainsSubstring("line too long (max 64 bytes): closing"));
    // Not for ordering (a correct server waits for us however long this takes): only so that
    // a server that closes at once has done it before we read, and the test catches it.
    co_await tut::sleep(200ms);
    asio::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    std::string replies;
    auto [read_error, n] = co_await asio::async_read(socket, asio::dynamic_buffer(replies),
                                                      compat::as_tuple(asio::use_awaitable));
    CHECK(read_error == asio::error::eof);  // not a reset
    co_return replies;
  };
  auto received = run_to_completion(talk(server.port, &server.program));
  auto error_line = std::string_view("error: line too long (max 64 bytes)\n");
  REQUIRE(received.size() >= error_line.size());
  CHECK(received.substr(received.size() - error_line.size()) == error_line);
  CHECK(received.size() == (4096 * 64) + error_line.size());  // every echo, then the error
  CHECK(exited_with(server.stop(), 0));
}

TEST_CASE("012_streams --serve: a second SIGTERM during the grace period closes what is left, exit 0") {
  ServerProgram server({"--max-line", std::to_string(16 << 20), "--grace", "600"});
  REQUIRE(!server.port.empty());
  asio::io_context io_context;
  tcp::socket stuck(io_context);
  stuck.open(tcp::v4());
  stuck.set_option(asio::socket_base::receive_buffer_size(8192));
  stuck.connect(tcp::endpoint(asio::ip::address_v4::loopback(),
                              static_cast<unsigned short>(std::stoi(server.port))));
  // 6 MiB: the echo is more than the kernel buffers hold, and we read only its first byte,
  // so the session is still writing when the signals come (idle timeout: 60 s).
  auto big = line_of(6 << 20, 's');
  asio::write(stuck, asio::buffer(big));
  char first = 0;
  asio::read(stuck, asio::buffer(&first, 1));
  server.program.signal(SIGTERM);
  server.program.read_until("SIGTERM received", 20s);
  auto log = server.program.output();
  CHECK_THAT(log, ContainsSubstring("SIGTERM received: stop accepting"));
  // Without a second signal it would wait the whole --grace (600 s) for that echo.
  std::string printed;
  auto status = server.stop(&printed);
  CHECK_FALSE(status.timed_out);
  CHECK(exited_with(status, 0));  // not killed by the signal's default action
  CHECK_THAT(printed, ContainsSubstring("closing 1 session(s) now"));
  CHECK_THAT(printed, ContainsSubstring("stopped: 1 connections"));
}

TEST_CASE("a write completes only once the kernel has taken every byte (more than drain())") {
  // asyncio's drain() returns once its own buffer is below 64 KiB, with that much unsent.
  // async_write keeps no buffer: a write larger than the kernel's socket buffers, to a peer
  // that has read nothing yet, cannot complete until the peer reads.
  auto kernel_max = [](const char* file) {
    std::ifstream in(file);
    std::size_t low = 0, initial = 0, max = 0;
    in >> low >> initial >> max;
    return max;
  };
  const std::size_t total =
      2 * (kernel_max("/proc/sys/net/ipv4/tcp_wmem") + kernel_max("/proc/sys/net/ipv4/tcp_rmem"));
  auto read_when_written = run_to_completion([total]() -> asio::awaitable<std::size_t> {
    auto executor = co_await asio::this_coro::executor;
    tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), 0});
    auto port = std::to_string(acceptor.local_endpoint().port());
    tcp::socket peer(executor);
    auto accepting = acceptor.async_accept(peer, asio::use_awaitable);
    auto connecting = LineClient::connect("127.0.0.1", port);
    using namespace asio::experimental::awaitable_operators;
    auto both = co_await (std::move(connecting) && std::move(accepting));
    LineClient client = std::move(both);
    std::size_t read = 0;
    std::optional<std::size_t> read_at_completion;
    auto write_all = [&]() -> asio::awaitable<void> {
      co_await client.write(std::string(total, 'w'));
      read_at_completion = read;
    };
    auto read_all = [&]() -> asio::awaitable<void> {
      std::vector<char> buffer(1 << 16);
      while (read < total)
        read += co_await peer.async_read_some(asio::buffer(buffer), asio::use_awaitable);
    };
    auto writing = write_all();  // started first: it fills the buffers before any read
    auto reading = read_all();
    co_await (std::move(writing) && std::move(reading));
    co_return read_at_completion.value();
  }(), 120s);
  CHECK(read_when_written > 0);
}

// ------------------------------------------------------------------------------------------
// One writer per socket: WriteQueue, and broadcast() as a second producer.

namespace {
/// A connected pair of sockets on 127.0.0.1: (ours, the peer's).
asio::awaitable<std::pair<tcp::socket, tcp::socket>> socket_pair() {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), 0});
  tcp::socket ours(executor);
  co_await ours.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  tcp::socket peer = co_await acceptor.async_accept(asio::use_awaitable);
  co_return std::pair<tcp::socket, tcp::socket>(std::move(ours), std::move(peer));
}

/// How many runs of one repeated byte `text` holds ("aabba": 3).
std::size_t runs_in(const std::string& text) {
  std::size_t runs = text.empty() ? 0 : 1;
  for (std::size_t i = 1; i < text.size(); ++i) runs += text[i] != text[i - 1];
  return runs;
}
}  // namespace

TEST_CASE("two async_writes at once on one socket interleave their bytes (why WriteQueue exists)") {
  // Asio's rule: no other write on a stream until an async_write has completed. async_write
  // is a loop of write_some calls (64 KiB at most each), and two such loops take turns.
  auto received = run_to_completion([]() -> asio::awaitable<std::string> {
    auto sockets = co_await socket_pair();
    tcp::socket& socket = sockets.first;
    tcp::socket& peer = sockets.second;
    const std::string a(256 * 1024, 'a'), b(256 * 1024, 'b');
    std::string got(a.size() + b.size(), '\0');
    using namespace asio::experimental::awaitable_operators;
    auto write_a = asio::async_write(socket, asio::buffer(a), asio::use_awaitable);
    auto write_b = asio::async_write(socket, asio::buffer(b), asio::use_awaitable);
    auto read_all = asio::async_read(peer, asio::buffer(got), asio::use_awaitable);
    auto all = std::move(write_a) && std::move(write_b) && std::move(read_all);
    co_await std::move(all);
    co_return got;
  }());
  INFO("runs of one letter: " << runs_in(received));
  CHECK(runs_in(received) > 2);  // 2 would be each message whole
}

TEST_CASE("WriteQueue: two producers' messages arrive whole and in the order they were queued") {
  auto result = run_to_completion([]() -> asio::awaitable<std::pair<std::string, std::string>> {
    auto sockets = co_await socket_pair();
    tcp::socket& socket = sockets.first;
    tcp::socket& peer = sockets.second;
    WriteQueue queue(socket);
    std::string expected;  // every message, in the order it was queued
    // Producer 1 awaits each of its messages (write() = write + drain); producer 2 only
    // queues (push()), in the middle of producer 1's writes. Messages of 200 KiB: each takes
    // several write_some calls, so any second writer would cut into them.
    auto message = [](char letter, int i) {
      return fmt::format("{}{}:", letter, i) + std::string(200 * 1024, letter) + "\n";
    };
    auto first = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 4; ++i) {
        auto text = message('a', i);
        expected += text;
        auto error = co_await queue.write(text);
        CHECK(!error);
      }
    };
    auto second = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 4; ++i) {
        auto text = message('b', i);
        expected += text;
        queue.push(text);
        co_await tut::sleep(1ms);  // let producer 1 queue its next one in between
      }
    };
    std::string got;
    auto reader = [&]() -> asio::awaitable<void> {
      std::string chunk(64 * 1024, '\0');
      for (;;) {
        auto [error, n] = co_await peer.async_read_some(asio::buffer(chunk),
                                                        compat::as_tuple(asio::use_awaitable));
        got.append(chunk.data(), n);
        if (error) co_return;  // eof: the writer is done and closed its side
      }
    };
    auto producers = [&]() -> asio::awaitable<void> {
      using namespace asio::experimental::awaitable_operators;
      auto both = first() && second();
      co_await std::move(both);
      queue.close();  // run() returns once everything queued is written
    };
    auto writer = [&]() -> asio::awaitable<void> {
      auto error = co_await queue.run();
      CHECK(!error);
      socket.shutdown(tcp::socket::shutdown_send);
    };
    using namespace asio::experimental::awaitable_operators;
    auto everything = producers() && writer() && reader();
    co_await std::move(everything);
    co_return std::make_pair(expected, got);
  }());
  CHECK(result.second.size() == result.first.size());
  CHECK((result.second == result.first));  // not even one byte out of place
}

TEST_CASE("WriteQueue: after a failed write, write() reports the error and push() is ignored") {
  run_to_completion([]() -> asio::awaitable<void> {
    auto sockets = co_await socket_pair();
    tcp::socket& socket = sockets.first;  // sockets.second, the peer, stays open unread
    WriteQueue queue(socket);
    socket.shutdown(tcp::socket::shutdown_send);  // every write now fails (EPIPE)
    auto writer = [&]() -> asio::awaitable<void> {
      auto error = co_await queue.run();
      CHECK(error == asio::error::broken_pipe);
    };
    auto producer = [&]() -> asio::awaitable<void> {
      auto error = co_await queue.write("lost\n");
      CHECK(error == asio::error::broken_pipe);
      queue.push("ignored\n");  // nobody would write it: it must not wait for ever
    };
    using namespace asio::experimental::awaitable_operators;
    auto both = writer() && producer();
    co_await std::move(both);
  }());
}

TEST_CASE("broadcast() reaches every client") {
  auto stats = run_to_completion(with_server(small_options(), [](EchoServer* server,
                                                                 std::string port)
                                                                  -> asio::awaitable<void> {
    auto one = co_await LineClient::connect("127.0.0.1", port);
    auto two = co_await LineClient::connect("127.0.0.1", port);
    while (server->stats().active < 2) co_await tut::sleep(5ms);
    server->broadcast("notice: hello all\n");
    {
      auto got = co_await one.read_line();
      CHECK(got == "notice: hello all\n");
    }
    {
      auto got = co_await two.read_line();
      CHECK(got == "notice: hello all\n");
    }
    co_await one.write("still echoed\n");  // and the echo goes on as before
    {
      auto got = co_await one.read_line();
      CHECK(got == "still echoed\n");
    }
  }));
  CHECK(stats.lines_echoed == 1);
}

TEST_CASE("broadcast() during an echo under way arrives after that echo, never inside it") {
  auto options = small_options();
  options.max_line = 16 << 20;
  run_to_completion(with_server(options, [](EchoServer* server, std::string)
                                              -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    socket.open(tcp::v4());
    socket.set_option(asio::socket_base::receive_buffer_size(8192));
    co_await socket.async_connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), server->port()), asio::use_awaitable);
    LineClient client(std::move(socket));
    // 6 MiB: more than the kernel buffers hold, so the echo is still being written (many
    // write_some calls to go) when the broadcast comes. A second async_write would cut in.
    auto big = line_of(6 << 20, 'e');
    co_await client.write(big);
    std::string first(1, '\0');
    co_await asio::async_read(client.socket(), asio::buffer(first), asio::use_awaitable);
    server->broadcast("notice: in between\n");
    auto rest = co_await read_exactly(&client, big.size() - 1);  // no '\n' search: cheap
    CHECK((rest && first + *rest == big));  // the echo whole
    auto next = co_await client.read_line();
    CHECK(next == "notice: in between\n");  // then the notice
  }), 50s);  // 6 MiB: slow under TSan on a loaded machine
}
