#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>
#include <memory>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "how_it_is_built.hpp"
#include "test_support.hpp"
#include "tuning.hpp"

using namespace lesson020;
using asio::ip::tcp;

namespace {

LoadResult load_with_exact_count(unsigned short port, int connections, std::uint64_t each,
                                 int depth = 1) {
  LoadOptions options;
  options.port = std::to_string(port);
  options.connections = connections;
  options.round_trips_each = each;
  options.depth = depth;
  return run_load(options);
}

/// A deliberately wrong echo server: after `good` correct echoes per connection it changes
/// one byte. Blocking, one connection at a time, on a thread of its own.
struct CorruptingServer {
  asio::io_context context;
  tcp::acceptor acceptor{context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;
  explicit CorruptingServer(int good) {
    thread = std::thread([this, good] {
      tcp::socket socket(context);
      acceptor.accept(socket);
      std::string line(64, '\0');
      for (int i = 0;; ++i) {
        std::error_code error;
        asio::read(socket, asio::buffer(line), error);
        if (error) return;
        if (i == good) line[10] = '#';
        asio::write(socket, asio::buffer(line), error);
        if (error) return;
      }
    });
  }
  ~CorruptingServer() { thread.join(); }
};

}  // namespace

TEST_CASE("every server variant echoes every byte of many round trips") {
  auto variant = GENERATE(Variant::threads, Variant::baseline, Variant::reuseport,
                          Variant::strands, Variant::small_strands, Variant::split_nodelay,
                          Variant::gathered, Variant::in_place, Variant::end_of_line,
                          Variant::every_line, Variant::unsafe_hint, Variant::tuned);
  auto depth = GENERATE(1, 5);  // 5: several lines in flight, several lines per read
  // With Nagle on, each echo after the first of a read waits for a delayed ACK (~40 ms).
  if (variant == Variant::gathered) depth = 1;
  INFO(label(variant) << ", " << depth << " line(s) in flight");
  auto server = start_server(variant, 2);
  LoadResult result = load_with_exact_count(server->port(), 3, 100, depth);
  CHECK(result.errors == 0);
  CHECK(result.first_error.empty());
  CHECK(result.round_trips == 300u * depth);
  CHECK(result.p50.count() > 0);  // a loopback round trip takes more than 1 us
  CHECK(result.p99 >= result.p50);
}

TEST_CASE("the Nagle variant still echoes correctly, only slower") {
  auto server = start_server(Variant::split_nagle);
  LoadResult result = load_with_exact_count(server->port(), 2, 5);
  CHECK(result.errors == 0);
  CHECK(result.round_trips == 10);
}

TEST_CASE("the load generator catches a corrupted echo and counts what came before") {
  CorruptingServer server(5);
  LoadOptions options;
  options.port = std::to_string(server.acceptor.local_endpoint().port());
  options.connections = 1;
  options.round_trips_each = 50;
  LoadResult result = run_load(options);
  CHECK(result.round_trips == 5);
  CHECK(result.errors == 1);
  CHECK_THAT(result.first_error, tut::test::ContainsSubstring("round trip 5"));
  CHECK_THAT(result.first_error, tut::test::ContainsSubstring("differs"));
}

TEST_CASE("the load generator reports a server that closes the connection") {
  asio::io_context context;
  tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread closer([&] {
    tcp::socket socket(context);
    acceptor.accept(socket);
  });  // accepts, then closes at once
  LoadOptions options;
  options.port = std::to_string(acceptor.local_endpoint().port());
  options.connections = 1;
  options.round_trips_each = 10;
  LoadResult result = run_load(options);
  closer.join();
  CHECK(result.round_trips == 0);
  CHECK(result.errors == 1);
  CHECK_FALSE(result.first_error.empty());
}

TEST_CASE("run_load throws when nothing listens") {
  unsigned short port;
  {
    asio::io_context context;
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }  // closed: connecting now is refused
  LoadOptions options;
  options.port = std::to_string(port);
  options.round_trips_each = 1;
  try {
    run_load(options);
    FAIL("run_load connected to a closed port");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), tut::test::ContainsSubstring("cannot connect to 127.0.0.1:" +
                                                      options.port));
  }
}

TEST_CASE("the allocation counter counts an allocation in a scope") {
  auto before = allocation_count();
  {
    auto value = std::make_unique<std::string>(100, 'x');  // the object and its buffer
    CHECK(value->size() == 100);
  }
  CHECK(allocation_count() - before >= 2);
  before = allocation_count();
  std::string small = "short";     // fits std::string's own small buffer: no heap
  auto after = allocation_count();  // read before Catch2 itself allocates in CHECK
  CHECK(after == before);
  CHECK(small.size() == 5);
}

TEST_CASE("removing the per-line copy removes allocations per round trip") {
  auto baseline = start_server(Variant::baseline);
  auto in_place = start_server(Variant::in_place);
  LoadResult copying = load_with_exact_count(baseline->port(), 1, 200);
  LoadResult reusing = load_with_exact_count(in_place->port(), 1, 200);
  REQUIRE(copying.errors + reusing.errors == 0);
  // The copy is one heap allocation per echo (counts, not timings). What is left without it
  // is per connection (its end: an exception object), not per round trip.
  CHECK(copying.allocations >= 200);
  CHECK(reusing.allocations < 50);
}

TEST_CASE("the table shows each row as a ratio to the baseline") {
  CHECK(ratio(300, 100) == 3.0);
  CHECK(ratio(5, 0) == 0.0);
  LoadResult base, twice;
  base.round_trips = 1000; base.seconds = 1; base.p50 = microseconds(100);
  base.p99 = microseconds(400); base.allocations = 1000;
  twice.round_trips = 2000; twice.seconds = 1; twice.p50 = microseconds(50);
  twice.p99 = microseconds(800); twice.allocations = 500;
  std::vector<Row> rows{{"base", base, ""}, {"fast", twice, ""}, {"none", {}, "not built"},
                        {"other process", twice, "", false}};
  std::string table = format_table(rows, 0);
  CHECK_THAT(table, tut::test::ContainsSubstring("1000 x1.00"));
  CHECK_THAT(table, tut::test::ContainsSubstring("2000 x2.00"));
  CHECK_THAT(table, tut::test::ContainsSubstring("50us x0.50"));
  CHECK_THAT(table, tut::test::ContainsSubstring("800us x2.00"));
  CHECK_THAT(table, tut::test::ContainsSubstring("0.25"));  // 500 allocations / 2000
  CHECK_THAT(table, tut::test::ContainsSubstring("none"));
  CHECK_THAT(table, tut::test::ContainsSubstring("not built"));
  // A server in another process: its allocations are not ours to count.
  CHECK(table.find("other process") != std::string::npos);
  CHECK(table.substr(table.find("other process")).find(" -") != std::string::npos);
}

TEST_CASE("a strand of any_io_executor allocates per round trip and a typed strand does not") {
  // The lesson's headline count: strand<any_io_executor> (72 bytes) does not fit
  // any_io_executor's in-place buffer, so every executor copy allocates, about 15 times per
  // round trip; strand<io_context::executor_type> fits, leaving only the baseline's copy of
  // the line (1). Counts, not timings: they do not depend on the machine's speed.
  auto any_strand = start_server(Variant::strands, 2);
  auto typed_strand = start_server(Variant::small_strands, 2);
  LoadResult any = load_with_exact_count(any_strand->port(), 2, 200);
  LoadResult typed = load_with_exact_count(typed_strand->port(), 2, 200);
  REQUIRE(any.errors + typed.errors == 0);
  REQUIRE(any.round_trips == 400);
  REQUIRE(typed.round_trips == 400);
  double any_each = double(any.allocations) / any.round_trips;
  double typed_each = double(typed.allocations) / typed.round_trips;
  INFO("strand<any_io_executor>: " << any_each << " allocations per round trip, "
       "strand<io_context::executor_type>: " << typed_each);
  CHECK(typed_each < any_each);
  CHECK(any_each - typed_each > 5);  // "about 15 times" against "about once"
  CHECK(any_each < 50);
  CHECK(typed_each >= 1.0);  // the baseline's copy of each line is still there
  CHECK(typed_each < 2.0);
}

TEST_CASE("reuse_port lets a second acceptor listen on the same port, and only with it") {
  asio::io_context context;
  auto listening = [&](bool reuse, unsigned short port) {
    tcp::acceptor acceptor(context, tcp::v4());
    if (reuse) acceptor.set_option(reuse_port{});
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    acceptor.listen();
    return acceptor;
  };
  tcp::acceptor first = listening(true, 0);
  unsigned short port = first.local_endpoint().port();
  tcp::acceptor second = listening(true, port);  // the kernel now spreads connections
  CHECK(second.local_endpoint().port() == port);
  try {
    listening(false, port);
    FAIL("a third acceptor bound a busy port without SO_REUSEPORT");
  } catch (const std::system_error& e) {
    CHECK(e.code() == asio::error::address_in_use);
  }
}

TEST_CASE("the warm-up is not counted: the window opens after it and closes after the time") {
  auto server = start_server(Variant::in_place);
  std::vector<std::pair<bool, std::chrono::steady_clock::time_point>> edges;
  LoadOptions options;
  options.port = std::to_string(server->port());
  options.connections = 2;
  options.warmup = 0.1;
  options.seconds = 0.2;
  options.on_window = [&edges](bool open) {
    edges.emplace_back(open, std::chrono::steady_clock::now());
  };
  auto start = std::chrono::steady_clock::now();
  LoadResult result = run_load(options);
  REQUIRE(edges.size() == 2);
  CHECK(edges[0].first);
  CHECK_FALSE(edges[1].first);
  // Timers never fire early: the window opens after the warm-up and lasts `seconds` from
  // when it really opened, however late that was.
  CHECK(edges[0].second - start >= std::chrono::milliseconds(100));
  CHECK(edges[1].second - edges[0].second >= std::chrono::milliseconds(200));
  CHECK(result.seconds >= 0.2);
  CHECK(result.errors == 0);
  CHECK(result.round_trips > 0);
}

TEST_CASE("the report line carries a result from the child process back intact") {
  LoadResult sent;
  sent.round_trips = 12345;
  sent.seconds = 0.25;
  sent.p50 = microseconds(42);
  sent.p99 = microseconds(4200);
  sent.errors = 1;
  sent.first_error = "connection 3, round trip 7: the echo differs from the line sent";
  auto got = parse_report_line(report_line(sent) + "\n");
  REQUIRE(got);
  CHECK(got->round_trips == 12345);
  CHECK(got->seconds == 0.25);
  CHECK(got->p50 == microseconds(42));
  CHECK(got->p99 == microseconds(4200));
  CHECK(got->errors == 1);
  CHECK(got->first_error == sent.first_error);
  CHECK_FALSE(parse_report_line("window open\n"));
}

TEST_CASE("the load generator in its own process measures a server here, and its allocations") {
  // The lesson program next to this test program is the child (see test_019).
  auto program = std::filesystem::read_symlink("/proc/self/exe").parent_path() /
                 "020_performance_tuning";
  REQUIRE(std::filesystem::exists(program));
  auto server = start_server(Variant::baseline);
  LoadOptions options;
  options.port = std::to_string(server->port());
  options.connections = 2;
  options.warmup = 0.05;
  options.seconds = 0.2;
  LoadResult result = run_load_in_child(options, -1, program.string());
  INFO(result.first_error);
  REQUIRE(result.errors == 0);
  REQUIRE(result.round_trips > 0);
  // The child's own allocations are not ours: what this process counted over the child's
  // window is the server's one copy per echo (give or take the echoes at the two edges).
  double each = double(result.allocations) / result.round_trips;
  INFO(result.allocations << " allocations, " << result.round_trips << " round trips");
  CHECK(each > 0.5);
  CHECK(each < 1.5);
}

TEST_CASE("a load generator that cannot connect comes back as an error, not a hang") {
  unsigned short port;
  {
    asio::io_context context;
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  auto program = std::filesystem::read_symlink("/proc/self/exe").parent_path() /
                 "020_performance_tuning";
  LoadOptions options;
  options.port = std::to_string(port);
  options.seconds = 0.1;
  LoadResult result = run_load_in_child(options, -1, program.string());
  CHECK(result.errors == 1);
  CHECK_THAT(result.first_error, tut::test::ContainsSubstring("printed no result"));
}

TEST_CASE("step 8: the memchr end of line finds a line that arrives in pieces, and only then") {
  // EndOfLine must give the '\n' overload's answers: no line before its '\n' has arrived,
  // the search resumed over the new bytes, and the bytes after a line kept for the next.
  auto server = start_server(Variant::end_of_line);
  asio::io_context context;
  tcp::socket socket(context);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
  socket.set_option(tcp::no_delay(true));
  for (std::string piece : {"hel", "lo, wo", "rld"}) {
    asio::write(socket, asio::buffer(piece));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // each piece read alone
  }
  CHECK(socket.available() == 0);  // no '\n' yet: nothing may come back
  for (std::string piece : {"\nnext", "\n"}) {
    asio::write(socket, asio::buffer(piece));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string echoed(std::string("hello, world\nnext\n").size(), '\0');
  asio::read(socket, asio::buffer(echoed));
  CHECK(echoed == "hello, world\nnext\n");
}

TEST_CASE("step 9: echoing every complete line in one write copies once per read, not per line") {
  auto one_by_one = start_server(Variant::baseline);
  auto at_once = start_server(Variant::every_line);
  // 8 lines in one write of the client's, 100 times: the server reads them in one go.
  LoadResult per_line = load_with_exact_count(one_by_one->port(), 1, 100, 8);
  LoadResult per_read = load_with_exact_count(at_once->port(), 1, 100, 8);
  REQUIRE(per_line.errors + per_read.errors == 0);
  REQUIRE(per_line.round_trips == 800);
  REQUIRE(per_read.round_trips == 800);
  INFO(per_line.allocations << " and " << per_read.allocations << " allocations for 800 lines");
  CHECK(per_line.allocations >= 800);  // the baseline's copy of every line
  CHECK(per_read.allocations < 400);   // one copy per read of (usually) 8 lines
}

TEST_CASE("the tuned server allocates nothing per round trip") {
  auto server = start_server(Variant::tuned);
  LoadResult result = load_with_exact_count(server->port(), 1, 400);
  REQUIRE(result.errors == 0);
  INFO(result.allocations << " allocations for 400 round trips");
  CHECK(result.allocations < 50);  // per connection (its end), not per round trip
}

namespace {
/// Reads `fd` until `wanted` appears or 20 s pass.
std::string read_until(int fd, const std::string& wanted) {
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (text.find(wanted) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    char chunk[256];
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
  }
  return text;
}
}  // namespace

TEST_CASE("020_performance_tuning --serve-tuned serves on its port for bench/run.sh, exits 0 on SIGTERM") {
  auto program = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
                  "020_performance_tuning").string();
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<std::string> args{program, "--serve-tuned", "--port", "0"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t child = -1;
  int spawned = ::posix_spawn(&child, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  REQUIRE(spawned == 0);
  auto banner = read_until(out[0], "Ctrl-C");
  CHECK_THAT(banner, tut::test::ContainsSubstring("(11 tuned"));
  auto at = banner.find("127.0.0.1:");
  LoadResult result;
  if (at != std::string::npos) {
    auto port = std::stoi(banner.substr(at + 10));
    result = load_with_exact_count(static_cast<unsigned short>(port), 2, 100);
  }
  ::kill(child, SIGTERM);
  auto rest = read_until(out[0], "stopped");
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(result.errors == 0);
  CHECK(result.round_trips == 200);
  CHECK_THAT(rest, tut::test::ContainsSubstring("stopped by SIGTERM"));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
