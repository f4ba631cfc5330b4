// Project 029 demo and program: a chat server for nc, telnet and browsers.
//   029_chat_server             the demonstration: clients in this process, a few seconds
//   029_chat_server --serve     the real server until Ctrl-C or SIGTERM (--help: the options)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "chat.hpp"
#include "demo.hpp"
#include "log.hpp"
#include "sleep.hpp"
#include "run.hpp"
#include "streams.hpp"  // lesson 012: LineClient, the nc of this demo
#include "ws.hpp"       // lesson 026: WebSocket, the browser of this demo

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using namespace lesson029;
using lesson012::LineClient;
using lesson022::Stop;

namespace {

const asio::ip::address localhost = asio::ip::make_address("127.0.0.1");

// A person on the line protocol: what they send and what they read, logged under their name.
struct Person {
  std::string name;
  std::optional<LineClient> line;
  std::optional<lesson026::WebSocket> web;

  asio::awaitable<void> say(std::string text) {
    tut::log(name, "> {}", text.size() > 60 ? fmt::format("({} bytes)", text.size()) : text);
    if (web) {
      co_await web->send_text(text);
    } else {
      std::string bytes = text + "\n";
      co_await line->write(std::move(bytes));
    }
  }
  asio::awaitable<std::optional<std::string>> next() {
    std::optional<std::string> got;
    try {
      if (web) {
        auto message = co_await web->receive();
        if (message) got = message->data;
      } else {
        got = co_await line->read_line();
      }
    } catch (const std::exception&) {  // a reset, or a close code other than 1000/1001
    }
    if (!got && line) line->close();  // the server closed: so do we (its goodbye waits for that)
    if (got && !got->empty() && got->back() == '\n') got->pop_back();
    co_return got;
  }
  asio::awaitable<void> hear(int count) {  // reads and logs `count` lines
    for (int i = 0; i < count; ++i) {
      auto got = co_await next();
      tut::log(name, "< {}", got ? *got : "(connection closed)");
    }
  }
};

asio::awaitable<Person> by_line(std::string name, unsigned short port) {
  auto client = co_await LineClient::connect("127.0.0.1", std::to_string(port));
  co_return Person{name, std::move(client), std::nullopt};
}

asio::awaitable<Person> by_websocket(std::string name, unsigned short port) {
  auto websocket = co_await lesson026::WebSocket::connect("127.0.0.1", std::to_string(port), "/chat");
  co_return Person{name, std::nullopt, websocket};
}

asio::awaitable<void> talk(ChatServer* server, Stop stop) {
  tut::part("1. alice and bob with the line protocol (as nc would), carol over a WebSocket");
  auto alice = co_await by_line("alice", server->line_port());
  co_await alice.hear(2);
  co_await alice.say("/nick alice");
  co_await alice.hear(1);
  auto bob = co_await by_line("bob", server->line_port());
  co_await bob.hear(2);
  co_await alice.hear(1);
  co_await bob.say("/nick bob");
  co_await bob.hear(1);
  co_await alice.hear(1);
  auto carol = co_await by_websocket("carol", server->web_port());
  co_await carol.hear(2);
  co_await carol.say("/nick carol");
  co_await carol.hear(1);
  co_await alice.hear(2);
  co_await bob.hear(2);
  co_await alice.say("hello, everyone");
  co_await bob.hear(1);
  co_await carol.hear(1);
  co_await bob.say("/join games");
  co_await bob.hear(1);
  co_await alice.hear(1);
  co_await carol.hear(1);
  co_await bob.say("/rooms");
  co_await bob.hear(1);
  co_await carol.say("/msg bob are you coming back?");
  co_await carol.hear(1);
  co_await bob.hear(1);
  co_await alice.say("/who");
  co_await alice.hear(1);

  tut::part("2. a client that never reads: its outbox fills, it is dropped, the room goes on");
  auto sloth = co_await by_line("sloth", server->line_port());
  sloth.line->socket().set_option(asio::socket_base::receive_buffer_size(4096));
  co_await sloth.say("/nick sloth");
  co_await alice.hear(2);
  co_await carol.hear(2);
  tut::log("sloth", "reads nothing from now on");
  const int count = 2000, step = 50;
  const std::string filler(180, '.');
  tut::log("alice", "> {} lines of 200 bytes, {} at a time (carol reads each {})", count, step, step);
  int in_order = 0;
  std::string dropped;
  for (int sent = 0; sent < count; sent += step) {
    std::string lines;
    for (int i = sent; i < sent + step; ++i) lines += fmt::format("{:05} {}\n", i, filler);
    co_await alice.line->write(std::move(lines));
    while (in_order < sent + step) {  // carol keeps up; sloth does not read at all
      auto got = co_await carol.next();
      if (!got) break;
      if (got->starts_with("* sloth left")) dropped = *got;
      else if (got->starts_with(fmt::format("[#lobby] alice: {:05} ", in_order))) ++in_order;
    }
  }
  if (dropped.empty()) {
    auto got = co_await carol.next();
    dropped = got.value_or("(nothing)");
  }
  tut::log("carol", "< all {} lines, in order: {}", count, in_order == count ? "yes" : "no");
  tut::log("carol", "< {}", dropped);
  co_await alice.hear(1);
  int buffered = 0;
  for (;;) {
    auto got = co_await sloth.next();
    if (!got) break;
    ++buffered;
  }
  tut::log("sloth", "reads at last: what the kernel held ({}), then the connection is closed",
           buffered > 0 ? "some lines" : "nothing");

  tut::part("3. limits: a line too long, and a full server");
  co_await carol.say(std::string(1500, 'x'));
  co_await carol.hear(1);
  auto dave = co_await by_line("dave", server->line_port());
  co_await dave.hear(2);
  co_await alice.hear(1);
  co_await carol.hear(1);
  auto eve = co_await by_line("eve", server->line_port());  // the 5th: one too many
  co_await eve.hear(2);

  tut::part("4. graceful shutdown (lesson 022): everyone told, nothing queued lost");
  tut::log("bob", "stops reading for a while");
  for (int i = 1; i <= 3; ++i) co_await alice.say(fmt::format("/msg bob note {}", i));
  co_await alice.hear(3);
  tut::reset_clock();  // the times that matter from here: the goodbyes at once, bob 0.1 s later
  tut::log("server", "stop requested");
  stop.request();
  co_await alice.hear(2);
  co_await carol.hear(2);
  co_await dave.hear(2);  // no "* ... left" lines: everyone leaves at once
  co_await tut::sleep(100ms);
  tut::log("bob", "reads again");
  co_await bob.hear(5);
}

asio::awaitable<void> idle_demo() {
  tut::part("5. an idle client is told and closed (idle timeout 0.3s here)");
  auto executor = co_await asio::this_coro::executor;
  Options options;
  options.idle_timeout = 300ms;
  options.log = {};
  ChatServer server(executor, {localhost, 0}, {localhost, 0}, options);
  Stop stop(executor);
  auto fred_talks = [](unsigned short port, Stop server_stop) -> asio::awaitable<void> {
    auto fred = co_await by_line("fred", port);
    co_await fred.hear(2);
    tut::log("fred", "says nothing");
    co_await fred.hear(2);
    server_stop.request();
  };
  auto serving = server.serve(stop);
  auto talking = fred_talks(server.line_port(), stop);
  co_await (std::move(serving) && std::move(talking));
}

asio::awaitable<void> demo() {
  auto executor = co_await asio::this_coro::executor;
  Options options;
  options.max_outbox = 100;
  options.max_clients = 4;
  options.send_buffer = 16384;       // so that part 2 fills the kernel's buffer quickly
  options.log = {};                  // the people's side only: deterministic output
  ChatServer server(executor, {localhost, 0}, {localhost, 0}, options);
  Stop stop(executor);
  auto serving = server.serve(stop);
  auto talking = talk(&server, stop);
  co_await (std::move(serving) && std::move(talking));
  const Stats& s = server.stats();
  fmt::print("\nserver stats: {} connections, {} refused, {} lines in, too slow {}, too long {}\n",
             s.connected, s.refused, s.lines, s.too_slow, s.too_long);
  co_await idle_demo();
}

// ---------------------------------------------------------------------------- --serve

int usage(const char* program, int status) {
  fmt::print(status ? stderr : stdout,
             "usage: {} [--serve [options]]\n"
             "  (no arguments)       the demonstration\n"
             "  --serve              the chat server until Ctrl-C or SIGTERM; options:\n"
             "    --host ADDR        where to listen (127.0.0.1; 0.0.0.0 for everyone)\n"
             "    --port N           the line protocol, for nc and telnet (7000; 0: any)\n"
             "    --web-port N       the page and its WebSockets (8000; 0: any)\n"
             "    --max-line N       bytes in a line (1000)\n"
             "    --max-outbox N     lines waiting for one client before it is dropped (1000)\n"
             "    --max-clients N    connections at once (2000)\n"
             "    --idle-timeout S   seconds of silence before a client is closed (600)\n"
             "    --grace S          seconds to say goodbye on SIGINT/SIGTERM (5)\n"
             "    --quiet            no log line per connection (for benchmarks)\n"
             "then: nc 127.0.0.1 7000, or open http://127.0.0.1:8000/ in a browser\n",
             program);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 1) {
    tut::run(demo());
    return 0;
  }
  if (std::strcmp(argv[1], "--serve") != 0) return usage(argv[0], std::strcmp(argv[1], "--help") ? 2 : 0);
  Options options;
  std::string host = "127.0.0.1";
  unsigned short port = 7000, web_port = 8000;
  double grace = 5;
  for (int i = 2; i < argc; ++i) try {
    const std::string flag = argv[i];
    if (flag == "--quiet") {
      options.log = {};
      continue;
    }
    if (i + 1 >= argc) return usage(argv[0], 2);
    const char* value = argv[++i];
    if (flag == "--host") host = value;
    else if (flag == "--port") port = static_cast<unsigned short>(std::stoul(value));
    else if (flag == "--web-port") web_port = static_cast<unsigned short>(std::stoul(value));
    else if (flag == "--max-line") options.max_line = std::stoul(value);
    else if (flag == "--max-outbox") options.max_outbox = std::stoul(value);
    else if (flag == "--max-clients") options.max_clients = std::stoul(value);
    else if (flag == "--idle-timeout") options.idle_timeout = milliseconds(static_cast<long>(std::stod(value) * 1000));
    else if (flag == "--grace") grace = std::stod(value);
    else return usage(argv[0], 2);
  } catch (const std::exception&) {  // std::stoul("abc")
    fmt::print(stderr, "029_chat_server: {} needs a number\n", argv[i - 1]);
    return 2;
  }
  try {
    auto serve = [&]() -> asio::awaitable<int> {
      auto executor = co_await asio::this_coro::executor;
      const auto address = asio::ip::make_address(host);
      ChatServer server(executor, {address, port}, {address, web_port}, options);
      fmt::print("chat: lines on {}:{} (nc {} {}), web on http://{}:{}/\n", host,
                 server.line_port(), host, server.line_port(), host, server.web_port());
      std::fflush(stdout);
      auto service = [&server](lesson022::TaskGroup tasks, Stop stop) { return server.run(tasks, stop); };
      auto running = lesson022::run_service(service, milliseconds(static_cast<long>(grace * 1000)));
      auto ending = co_await std::move(running);
      fmt::print("chat: stopped ({}); {} connections served\n", lesson022::to_string(ending),
                 server.stats().connected);
      co_return lesson022::exit_code(ending);
    };
    return tut::run(serve());
  } catch (const std::exception& e) {
    fmt::print(stderr, "029_chat_server: {}\n", e.what());
    return 1;
  }
}
