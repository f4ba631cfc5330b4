#include "messages.hpp"

#include <atomic>
#include <functional>
#include <optional>
#include <thread>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "compat.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using Socket = asio::local::stream_protocol::socket;
using lesson018::async_parse_number;
using lesson018::async_read_message;
using lesson018::async_write_message;
using tut::test::run_within;

TEST_CASE("async_parse_number with a callback completes later, never inside the call") {
  asio::io_context context;
  std::optional<int> result;
  async_parse_number(context.get_executor(), "123", [&](std::error_code e, int n) {
    REQUIRE_FALSE(e);
    result = n;
  });
  CHECK_FALSE(result.has_value());  // rule 1: not inline
  context.run();
  CHECK(result == 123);
}

TEST_CASE("async_parse_number with use_future, from a plain thread") {
  asio::io_context context;
  auto guard = asio::make_work_guard(context);
  std::thread loop([&] { context.run(); });
  auto good = async_parse_number(context.get_executor(), "-5", asio::use_future);
  auto bad = async_parse_number(context.get_executor(), "5 apples", asio::use_future);
  CHECK(good.get() == -5);
  try {
    bad.get();
    FAIL("expected an error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == lesson018::message_error::not_a_number);
  }
  guard.reset();
  loop.join();
}

TEST_CASE("async_parse_number with use_awaitable and as_tuple") {
  auto parsed = run_within([]() -> asio::awaitable<int> {
    co_return co_await async_parse_number(co_await asio::this_coro::executor, "77",
                                          asio::use_awaitable);
  }());
  CHECK(parsed == 77);
  auto [error, value] = run_within([]() -> asio::awaitable<std::tuple<std::error_code, int>> {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await async_parse_number(executor, "", compat::as_tuple(asio::use_awaitable));
  }());
  CHECK(error == lesson018::message_error::not_a_number);
  CHECK(error.category().name() == std::string("lesson018.message"));
}

TEST_CASE("the handler runs on its associated executor (bind_executor to a strand)") {
  asio::io_context context;
  auto strand = asio::make_strand(context);
  bool on_strand = false;
  async_parse_number(context.get_executor(), "1",
                     asio::bind_executor(strand, [&](std::error_code, int) {
                       on_strand = strand.running_in_this_thread();
                     }));
  context.run();
  CHECK(on_strand);
}

TEST_CASE("messages round-trip with a callback, a future and a coroutine") {
  asio::io_context context;
  Socket a(context), b(context);
  asio::local::connect_pair(a, b);

  // Callback style.
  std::string by_callback;
  async_write_message(a, "one", [](std::error_code e) { REQUIRE_FALSE(e); });
  async_read_message(b, [&](std::error_code e, std::string text) {
    REQUIRE_FALSE(e);
    by_callback = std::move(text);
  });
  context.run();
  CHECK(by_callback == "one");

  // Future style, with the loop on another thread.
  context.restart();
  auto guard = asio::make_work_guard(context);
  std::thread loop([&] { context.run(); });
  auto sent = async_write_message(a, std::string(300'000, 'z'), asio::use_future);
  auto received = async_read_message(b, asio::use_future);
  sent.get();
  CHECK(received.get() == std::string(300'000, 'z'));
  guard.reset();
  loop.join();

  // Coroutine style, several messages including an empty one, in order.
  context.restart();
  auto done = asio::co_spawn(context, [&]() -> asio::awaitable<std::vector<std::string>> {
    for (auto text : {"x", "", "zz"}) co_await async_write_message(a, text, asio::use_awaitable);
    std::vector<std::string> got;
    for (int i = 0; i < 3; ++i) got.push_back(co_await async_read_message(b, asio::use_awaitable));
    co_return got;
  }, asio::use_future);
  context.run();
  CHECK(done.get() == std::vector<std::string>{"x", "", "zz"});
}

TEST_CASE("a read is cancelled through the caller's cancellation slot") {
  auto error = run_within([]() -> asio::awaitable<std::error_code> {
    auto executor = co_await asio::this_coro::executor;
    Socket a(executor), b(executor);
    asio::local::connect_pair(a, b);
    asio::cancellation_signal cancel;
    asio::steady_timer timer(executor, 20ms);
    // Not when the wait was cancelled: the timer's destructor, with `cancel` gone too.
    timer.async_wait([&](std::error_code waited) {
      if (!waited) cancel.emit(asio::cancellation_type::terminal);
    });
    auto token = asio::bind_cancellation_slot(cancel.slot(), compat::as_tuple(asio::use_awaitable));
    auto [e, text] = co_await async_read_message(b, token);
    co_return e;
  }());
  CHECK(error == asio::error::operation_aborted);
}

TEST_CASE("a read loses the race with a timer in `||` and is cancelled, not left pending") {
  using namespace asio::experimental::awaitable_operators;
  auto timer_won = run_within([]() -> asio::awaitable<bool> {
    auto executor = co_await asio::this_coro::executor;
    Socket a(executor), b(executor);
    asio::local::connect_pair(a, b);
    asio::steady_timer timer(executor, 20ms);
    auto reading = async_read_message(b, asio::use_awaitable);
    auto result = co_await (std::move(reading) || timer.async_wait(asio::use_awaitable));
    co_return result.index() == 1;
  }());
  CHECK(timer_won);
}

namespace {

// A socket whose reads call `hook` once, after the first read's data has arrived and before
// the reader sees it: a cancellation emitted there lands between the header and the body,
// when no inner read is pending. The handler's cancellation slot is passed on, so a
// cancellation during a read still reaches the socket.
struct HookedSocket {
  Socket& socket;
  std::function<void()> hook;

  using executor_type = Socket::executor_type;
  executor_type get_executor() { return socket.get_executor(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    auto initiation = [this](auto handler, const Buffers& into) {
      auto slot = asio::get_associated_cancellation_slot(handler);
      auto then = [this, handler = std::move(handler)](std::error_code e, std::size_t n) mutable {
        if (hook) std::exchange(hook, nullptr)();
        std::move(handler)(e, n);
      };
      socket.async_read_some(into, asio::bind_cancellation_slot(slot, std::move(then)));
    };
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(initiation, token,
                                                                           buffers);
  }
};

}  // namespace

TEST_CASE("a cancellation between the header and the body ends the read") {
  // Before the fix the body read started anyway and waited for bytes that never come.
  auto error = run_within([]() -> asio::awaitable<std::error_code> {
    auto executor = co_await asio::this_coro::executor;
    Socket a(executor), b(executor);
    asio::local::connect_pair(a, b);
    // The header announces 5 bytes; the body is never sent.
    const unsigned char header[] = {0, 0, 0, 5};
    co_await asio::async_write(a, asio::buffer(header), asio::use_awaitable);
    asio::cancellation_signal cancel;
    HookedSocket reader{b, [&] { cancel.emit(asio::cancellation_type::terminal); }};
    auto token = asio::bind_cancellation_slot(cancel.slot(), compat::as_tuple(asio::use_awaitable));
    auto [e, text] = co_await async_read_message(reader, token);
    co_return e;
  }(), 3s);  // short: the broken read hangs until this limit
  CHECK(error == asio::error::operation_aborted);
}

TEST_CASE("an oversized length is refused without reading the body") {
  auto error = run_within([]() -> asio::awaitable<std::error_code> {
    auto executor = co_await asio::this_coro::executor;
    Socket a(executor), b(executor);
    asio::local::connect_pair(a, b);
    std::uint32_t too_big = lesson018::max_message_size + 1;
    unsigned char header[4] = {static_cast<unsigned char>(too_big >> 24),
                               static_cast<unsigned char>(too_big >> 16),
                               static_cast<unsigned char>(too_big >> 8),
                               static_cast<unsigned char>(too_big)};
    co_await asio::async_write(a, asio::buffer(header), asio::use_awaitable);
    auto [e, text] = co_await async_read_message(b, compat::as_tuple(asio::use_awaitable));
    co_return e;
  }());
  CHECK(error == lesson018::message_error::message_too_long);
}

TEST_CASE("a peer that closes inside a message gives eof, over real TCP") {
  auto error = run_within([]() -> asio::awaitable<std::error_code> {
    auto executor = co_await asio::this_coro::executor;
    asio::ip::tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket client(executor);
    co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    auto server = co_await acceptor.async_accept(asio::use_awaitable);
    // Announce 10 bytes, send 3, and go away.
    const unsigned char partial[] = {0, 0, 0, 10, 'a', 'b', 'c'};
    co_await asio::async_write(client, asio::buffer(partial), asio::use_awaitable);
    client.close();
    auto [e, text] = co_await async_read_message(server, compat::as_tuple(asio::use_awaitable));
    co_return e;
  }());
  CHECK(error == asio::error::eof);
}

TEST_CASE("async_compose's trailing stream keeps the stream's io_context running between steps") {
  // The steps run on the handler's executor, another io_context. After the header read, the
  // stream's io_context has no operation pending until that other thread starts the body
  // read: only the work async_compose holds for `stream` keeps its run() from returning.
  asio::io_context stream_context, handler_context;
  Socket a(stream_context), b(stream_context);
  asio::local::connect_pair(a, b);
  const unsigned char message[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
  asio::write(a, asio::buffer(message));  // all of it is there before the read starts

  std::string got;
  std::atomic<bool> done{false};
  async_read_message(b, asio::bind_executor(handler_context, [&](std::error_code e, std::string text) {
    got = e ? e.message() : text;
    done = true;
  }));
  std::thread handler_thread([&] { handler_context.run(); });
  stream_context.run();
  // run() returned when that work was released: the operation is complete, the body read.
  auto unread = b.available();
  while (!done) {  // only if run() returned too early: let the body read finish, to clean up
    stream_context.restart();
    stream_context.run_for(10ms);
  }
  handler_thread.join();
  CHECK(unread == 0);
  CHECK(got == "hello");
}
