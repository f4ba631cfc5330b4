// Project 029 tests: the chat server on 127.0.0.1 (ports 0), with real clients: lesson 012's
// LineClient (what nc does), lesson 026's WebSocket client, Debian's Python `websockets`
// library and headless Chromium (test_029_chat_server_peers.cpp). The slow-reader policy, the
// limits and the shutdown are each shown by what the clients receive.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "chat.hpp"
#include "program.hpp"
#include "test_029_chat_server_support.hpp"
#include "test_support.hpp"

using namespace lesson029;
using namespace lesson029::test;
using namespace std::chrono_literals;

TEST_CASE("nicknames, rooms, private messages and /help over the line protocol") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto alice = co_await Person::by_line(server->line_port());
    auto welcome = co_await alice.expect("* welcome, guest1!");
    CHECK(welcome.find("/help") != std::string::npos);
    NEXT_IS(alice, "* you are in #lobby (1 here: guest1)");
    co_await alice.say("/nick alice");
    NEXT_IS(alice, "* you are now alice");
    auto bob = co_await Person::by_line(server->line_port());
    NEXT_IS(bob, "* welcome, guest2! /nick NAME picks a name, /help lists the commands");
    NEXT_IS(bob, "* you are in #lobby (2 here: alice, guest2)");
    NEXT_IS(alice, "* guest2 joined #lobby");
    co_await bob.say("/nick alice");
    NEXT_IS(bob, "error: alice is taken");
    co_await bob.say("/nick no spaces");
    NEXT_IS(bob, "error: a nickname is 1 to 20 letters, digits, _ or -");
    co_await bob.say("/nick bob");
    NEXT_IS(bob, "* you are now bob");
    NEXT_IS(alice, "* guest2 is now bob");
    co_await alice.say("hello bob");
    NEXT_IS(bob, "[#lobby] alice: hello bob");
    co_await bob.say("/join #games");
    NEXT_IS(bob, "* you are in #games (1 here: bob)");
    NEXT_IS(alice, "* bob left #lobby");
    co_await alice.say("nobody hears this in #games");
    co_await bob.say("/rooms");
    NEXT_IS(bob, "* rooms: #games (1), #lobby (1)");
    co_await alice.say("/msg bob psst");
    NEXT_IS(alice, "[pm to bob] psst");
    NEXT_IS(bob, "[pm] alice: psst");
    co_await alice.say("/msg carol hello?");
    NEXT_IS(alice, "error: nobody is called carol");
    co_await alice.say("/join games");
    NEXT_IS(alice, "* you are in #games (2 here: alice, bob)");
    NEXT_IS(bob, "* alice joined #games");
    co_await bob.say("/who");
    NEXT_IS(bob, "* in #games: alice, bob");
    co_await bob.say("/leave");
    NEXT_IS(bob, "* you left #games; /join ROOM to talk again");
    NEXT_IS(alice, "* bob left #games");
    co_await bob.say("anyone?");
    NEXT_IS(bob, "error: you are in no room; /join ROOM first");
    co_await bob.say("/dance");
    NEXT_IS(bob, "error: unknown command /dance; /help lists them");
    co_await bob.say("/help");
    NEXT_IS(bob, "* commands:");
    std::vector<std::string> help;
    for (int i = 0; i < 8; ++i) {
      auto got = co_await bob.next();
      help.push_back(got.value_or(""));
    }
    CHECK(help.back() == "*   anything else is said in your room");
    co_await bob.say("/quit");
    NEXT_IS(bob, "bye");
    NEXT_IS(bob, std::nullopt);  // the server closed the connection
    co_await alice.say("/rooms");
    NEXT_IS(alice, "* rooms: #games (1)");  // #lobby went with its last member
  };
  run_chat(Options{.log = {}}, body);
}

TEST_CASE("telnet's CRLF and a last line without a newline are lines too") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto alice = co_await Person::by_line(server->line_port());
    co_await alice.skip(2);
    auto bob = co_await Person::by_line(server->line_port());
    co_await bob.skip(2);
    co_await alice.skip(1);
    co_await bob.raw("from telnet\r\nno newline at the end");
    bob.line->write_eof();
    NEXT_IS(alice, "[#lobby] guest2: from telnet");
    NEXT_IS(alice, "[#lobby] guest2: no newline at the end");
    NEXT_IS(alice, "* guest2 left #lobby (disconnected)");
  };
  run_chat(Options{.log = {}}, body);
}

TEST_CASE("a client that never reads is dropped with the reason and the room goes on") {
  Options options{.max_outbox = 256, .send_buffer = 16384, .log = {}};
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto fast = co_await Person::by_line(server->line_port());
    co_await fast.skip(2);
    auto sloth = co_await Person::by_line(server->line_port());
    sloth.line->socket().set_option(asio::socket_base::receive_buffer_size(4096));
    co_await sloth.skip(2);
    co_await fast.skip(1);  // sloth joined
    auto talker = co_await Person::by_line(server->line_port());
    co_await talker.skip(2);
    co_await fast.skip(1);  // talker joined
    // 2000 lines of 500 bytes (1 MB), 100 at a time: `fast` reads each hundred before the
    // next is sent, so at most 100 wait for it (its outbox holds 256); sloth reads nothing,
    // so its kernel buffers (small here) and then its outbox fill.
    const std::string filler(490, '.');
    int in_order = 0;
    std::string notice;
    for (int sent = 0; sent < 2000; sent += 100) {
      std::string lines;
      for (int i = sent; i < sent + 100; ++i) lines += fmt::format("{:05} {}\n", i, filler);
      co_await talker.raw(std::move(lines));
      while (in_order < sent + 100) {
        auto got = co_await fast.next();
        REQUIRE(got.has_value());
        if (got->starts_with("* guest2 left")) {
          notice = *got;
          continue;
        }
        const std::string expected = fmt::format("[#lobby] guest3: {:05} ", in_order);
        CHECK(got->starts_with(expected));
        ++in_order;
      }
    }
    if (notice.empty()) notice = co_await fast.expect("* guest2 left");
    CHECK(notice == "* guest2 left #lobby (too slow: 256 lines waiting)");
    CHECK(server->stats().too_slow == 1);
    CHECK(server->stats().active == 2);
    // What sloth finds when it reads at last: what the kernel held, then the end.
    int lines = 0;
    for (;;) {
      auto got = co_await sloth.next();
      if (!got) break;
      ++lines;
    }
    CHECK(lines < 2000);
  };
  run_chat(options, body);
}

TEST_CASE("a line over max_line is refused with a message and the connection stays") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto alice = co_await Person::by_line(server->line_port());
    co_await alice.skip(2);
    auto bob = co_await Person::by_line(server->line_port());
    co_await bob.skip(2);
    co_await alice.skip(1);
    // 100 bytes is the limit: 100 passes, 101 does not; 70000 arrives in many reads.
    co_await bob.say(std::string(100, 'a'));
    NEXT_IS(alice, "[#lobby] guest2: " + std::string(100, 'a'));
    co_await bob.say(std::string(101, 'b'));
    NEXT_IS(bob, "error: line too long (max 100 bytes), not sent");
    co_await bob.say(std::string(70000, 'c'));
    NEXT_IS(bob, "error: line too long (max 100 bytes), not sent");
    co_await bob.say("still here");
    NEXT_IS(alice, "[#lobby] guest2: still here");
    auto carol = co_await Person::by_websocket(server->web_port());
    co_await carol.skip(2);
    co_await alice.skip(1);
    co_await bob.skip(1);
    co_await carol.say(std::string(101, 'w'));
    NEXT_IS(carol, "error: line too long (max 100 bytes), not sent");
    co_await carol.say("two lines\nin one message");
    NEXT_IS(alice, "[#lobby] guest3: two lines");
    NEXT_IS(alice, "[#lobby] guest3: in one message");
    CHECK(server->stats().too_long == 3);
  };
  run_chat(Options{.max_line = 100, .log = {}}, body);
}

TEST_CASE("the connection limit refuses one client too many with a message") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto one = co_await Person::by_line(server->line_port());
    co_await one.skip(2);
    auto two = co_await Person::by_websocket(server->web_port());
    co_await two.skip(2);
    auto three = co_await Person::by_line(server->line_port());
    NEXT_IS(three, "error: server full (2 connections); try again later");
    NEXT_IS(three, std::nullopt);
    auto four = co_await Person::by_websocket(server->web_port());
    NEXT_IS(four, "error: server full (2 connections); try again later");
    NEXT_IS(four, std::nullopt);
    CHECK(four.web->close_code() == 1013);
    CHECK(server->stats().refused == 2);
    co_await one.skip(1);       // "* guest2 joined #lobby"
    co_await one.say("/quit");  // a place is free again
    NEXT_IS(one, "bye");
    NEXT_IS(one, std::nullopt);  // and one closes too, which ends its session at once
    while (server->stats().active > 1) co_await pause(10ms);  // its session has ended
    auto five = co_await Person::by_line(server->line_port());
    auto welcome = co_await five.expect("* welcome");
    CHECK(!welcome.empty());
  };
  run_chat(Options{.max_clients = 2, .log = {}}, body);
}

TEST_CASE("an idle client is told and closed, one that talks is not") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    const auto start = tut::clock::now();
    auto quiet = co_await Person::by_line(server->line_port());
    co_await quiet.skip(2);
    auto talker = co_await Person::by_websocket(server->web_port());
    co_await talker.skip(2);
    co_await quiet.skip(1);
    auto stays_quiet = [](Person* person, tut::clock::time_point since) -> asio::awaitable<void> {
      NEXT_IS(*person, "bye: idle for 1.0s");
      NEXT_IS(*person, std::nullopt);
      CHECK(tut::clock::now() - since >= 1s);
    };
    auto talks = [](Person* person) -> asio::awaitable<void> {
      for (int i = 0; i < 10; ++i) {  // a line every 0.2 s for 2 s keeps it in
        co_await pause(200ms);
        co_await person->say("/who");
        auto who = co_await person->expect("* in #lobby: ");
        CHECK(!who.empty());
      }
    };
    auto quiet_side = stays_quiet(&quiet, start);
    auto talking_side = talks(&talker);
    using namespace asio::experimental::awaitable_operators;
    co_await (std::move(quiet_side) && std::move(talking_side));
    auto bye = co_await talker.expect("bye: ");  // now it is quiet too
    CHECK(bye == "bye: idle for 1.0s");
    NEXT_IS(talker, std::nullopt);
    CHECK(server->stats().idle == 2);
  };
  run_chat(Options{.idle_timeout = 1s, .log = {}}, body);
}

TEST_CASE("stop(): everyone is told, and a reader that fell behind still gets every line") {
  Options options{.max_outbox = 4000, .send_buffer = 16384, .log = {}};
  auto body = [](ChatServer* server, Stop stop) -> asio::awaitable<void> {
    auto late = co_await Person::by_line(server->line_port());
    auto talker = co_await Person::by_line(server->line_port());
    co_await talker.skip(2);
    auto web = co_await Person::by_websocket(server->web_port());
    co_await web.skip(2);
    co_await talker.skip(1);
    // 2000 private lines of 300 bytes (600 KB) for `late` (guest1), which reads nothing for
    // now: the kernel's buffers take a few hundred, the rest waits in its outbox (4000 here).
    std::string lines;
    for (int i = 0; i < 2000; ++i) lines += fmt::format("/msg guest1 {:04} {}\n", i, std::string(290, '.'));
    co_await talker.raw(std::move(lines));
    for (int i = 0; i < 2000; ++i) co_await talker.skip(1);  // "[pm to guest1] ..."
    stop.request();
    NEXT_IS(talker, "bye: server shutting down");
    NEXT_IS(talker, std::nullopt);
    NEXT_IS(web, "bye: server shutting down");
    NEXT_IS(web, std::nullopt);
    CHECK(web.web->close_code() == 1001);
    co_await pause(300ms);  // `late` only starts reading now
    int got_pms = 0;
    std::string last;
    for (;;) {
      auto line = co_await late.next();
      if (!line) break;
      if (line->starts_with("[pm] guest2: ")) {
        CHECK(line->substr(13, 4) == fmt::format("{:04}", got_pms));
        ++got_pms;
      }
      last = *line;
    }
    CHECK(got_pms == 2000);
    CHECK(last == "bye: server shutting down");
  };
  run_chat(options, body);
}

TEST_CASE("1000 clients connected at once each get a private message from the next") {
  raise_descriptor_limit(4096);
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    const int n = 1000;
    std::vector<Person> people;
    for (int i = 0; i < n; ++i) {
      auto person = co_await Person::by_line(server->line_port());
      people.push_back(std::move(person));
    }
    for (int i = 0; i < n; ++i) co_await people[i].skip(1);  // the welcome (no lobby here)
    CHECK(server->stats().active == n);
    for (int i = 0; i < n; ++i)
      co_await people[i].say(fmt::format("/msg guest{} from {}", (i + 1) % n + 1, i + 1));
    for (int i = 0; i < n; ++i) {  // its own confirmation and the message, in either order
      auto first = co_await people[i].next();
      auto second = co_await people[i].next();
      const int from = (i + n - 1) % n + 1;
      const std::set<std::string> got{first.value_or(""), second.value_or("")};
      const std::set<std::string> expected{
          fmt::format("[pm to guest{}] from {}", (i + 1) % n + 1, i + 1),
          fmt::format("[pm] guest{}: from {}", from, from)};
      CHECK(got == expected);
    }
  };
  run_chat(Options{.lobby = "", .log = {}}, body, 120s);
}

TEST_CASE("the web port serves the page at / and 404 elsewhere") {
  auto body = [](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto page = co_await http_get(server->web_port(), "GET /?nick=x HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(page.starts_with("HTTP/1.1 200 OK"));
    CHECK_THAT(page, tut::test::ContainsSubstring("new WebSocket("));
    auto missing = co_await http_get(server->web_port(), "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(missing.starts_with("HTTP/1.1 404"));
  };
  run_chat(Options{.log = {}}, body);
}

TEST_CASE("SIGTERM through lesson 022's run_service: goodbyes, then a clean exit") {
  auto test = []() -> asio::awaitable<lesson022::Ending> {
    auto executor = co_await asio::this_coro::executor;
    Options options{.log = {}};
    ChatServer server(executor, {localhost, 0}, {localhost, 0}, options);
    auto service = [&server](lesson022::TaskGroup tasks, Stop stop) { return server.run(tasks, stop); };
    auto clients = [](unsigned short port) -> asio::awaitable<void> {
      auto alice = co_await Person::by_line(port);
      co_await alice.skip(2);
      ::kill(::getpid(), SIGTERM);
      NEXT_IS(alice, "bye: server shutting down");
      NEXT_IS(alice, std::nullopt);
    };
    auto running = lesson022::run_service(service, 5s);
    auto talking = clients(server.line_port());
    using namespace asio::experimental::awaitable_operators;
    auto ending = co_await (std::move(running) && std::move(talking));
    co_return ending;
  };
  CHECK(tut::test::run_within(test(), 30s) == lesson022::Ending::clean);
}

// ------------------------------------------------------------------- the program itself

namespace {

int connect_to(int port) {  // a blocking client socket
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

}  // namespace

TEST_CASE("029_chat_server --serve: SIGTERM says goodbye, exit 0, or 1 past the grace period") {
  // A client that reads its goodbye and closes lets the server end at once (clean). One that
  // never closes holds the goodbye's wait (close_timeout, 2 s) past a 1 s grace (forced).
  // The clean case gets 10 s of grace: it must not depend on the machine being fast.
  const bool past_grace = GENERATE(false, true);
  auto program = tut::test::Program::built(
      "029_chat_server", {"--serve", "--port", "0", "--web-port", "0", "--grace", past_grace ? "1" : "10"});
  program.read_until("), web on", 20s);
  const std::string& output = program.output();
  const auto at = output.find("chat: lines on 127.0.0.1:");
  REQUIRE(at != std::string::npos);
  const int port = std::stoi(output.substr(at + 25));
  const int client = connect_to(port);
  std::string received;
  tut::test::read_until(client, received, "/help lists the commands", 20s);
  program.signal(SIGTERM);
  if (!past_grace) {
    tut::test::read_until(client, received, "", 20s);  // until the server closes
    ::close(client);
  }
  program.read_until("", 20s);
  const int status = program.wait(30s).code;  // -1 if still running 30 s later (then killed)
  if (past_grace) ::close(client);
  if (!past_grace) CHECK_THAT(received, tut::test::ContainsSubstring("bye: server shutting down\n"));
  CHECK_THAT(output, tut::test::ContainsSubstring("SIGTERM received"));
  CHECK_THAT(output, tut::test::ContainsSubstring(past_grace ? "stopped (forced)" : "stopped (clean)"));
  CHECK(status == (past_grace ? 1 : 0));
}
