#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "test_support.hpp"
#include "tuning.hpp"

using namespace lesson020;
using asio::ip::tcp;

namespace {

LoadResult load_with_exact_count(unsigned short port, int connections, std::uint64_t each) {
  LoadOptions options;
  options.port = std::to_string(port);
  options.connections = connections;
  options.round_trips_each = each;
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
                          Variant::gathered, Variant::in_place);
  INFO(label(variant));
  auto server = start_server(variant, 2);
  LoadResult result = load_with_exact_count(server->port(), 3, 100);
  CHECK(result.errors == 0);
  CHECK(result.first_error.empty());
  CHECK(result.round_trips == 300);
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
