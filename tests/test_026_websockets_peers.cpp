// Lesson 026 tests against peers that no lesson wrote: Debian's Python `websockets` library
// (run by /usr/bin/python3, which sees Debian's packages; a python3 earlier on PATH may not),
// its client against this server and this client against its server, and headless Chromium,
// which loads the server's page, whose script echoes through a WebSocket. A missing peer
// skips with the reason (and fails under TUTORIAL_NO_SKIP, as in CI).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/post.hpp>
#include <asio/this_coro.hpp>

#include "peers.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"
#include "ws.hpp"

using namespace lesson026;
using namespace std::chrono_literals;

namespace {

const asio::ip::address localhost = asio::ip::make_address("127.0.0.1");
const char* const python = "/usr/bin/python3";


const char* const client_script = R"(
import asyncio, sys, websockets
async def main(port, big):
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", max_size=None) as ws:
        if big:
            try:
                await ws.send(b"z" * 2000)
                await ws.recv()
            except websockets.exceptions.ConnectionClosedError as e:
                print(f"python client: closed by the server with {e.rcvd.code}")
            return
        for m in ["hello", "\u03ba\u1f79\u03c3\u03bc\u03b5", b"\x00\xff", "x" * 300, b"y" * 70000, ""]:
            await ws.send(m)
            r = await ws.recv()
            assert r == m, f"sent {m[:20]!r}, got {r[:20]!r}"
        await ws.send(["frag", "men", "ted"])
        r = await ws.recv()
        assert r == "fragmented", r
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
    print(f"python client: all echoed, pong received, closed with {ws.close_code}")
asyncio.run(main(sys.argv[1], len(sys.argv) > 2))
)";

// This lesson's server; Python's client, waited for on a thread of its own (Program::wait
// blocks), stops it when done. Returns the client's output and "exit status N".
asio::awaitable<std::string> python_client_against_server(std::string script, bool big) {
  auto executor = co_await asio::this_coro::executor;
  Options options;
  options.max_message = 100'000;
  if (big) options.max_message = 1000;
  WebSocketServer server(executor, {localhost, 0}, echo, options);
  std::vector<std::string> command = {python, script, std::to_string(server.port())};
  if (big) command.push_back("big");
  tut::test::Program client(std::move(command));  // stdout on a pipe, stderr ours
  std::string output;
  std::thread child([&output, &client, &server, executor] {
    const tut::test::Exit exit = client.wait(40s);  // killed past that: a hung client
    output = client.output() + "exit status " + std::to_string(exit.code);
    asio::post(executor, [&server] { server.stop(); });
  });
  auto serving = server.serve();
  co_await std::move(serving);
  child.join();
  co_return output;
}

}  // namespace

TEST_CASE("the websockets library's client talks to this server") {
  if (!tut::test::python_websockets_available()) return;
  tut::test::TempDir folder("test_026");
  const std::string script = folder.file("client.py", client_script);
  const auto output = tut::test::run_within(python_client_against_server(script, false), 50s);
  INFO(output);
  CHECK_THAT(output, tut::test::ContainsSubstring(
                         "python client: all echoed, pong received, closed with 1000"));
  CHECK_THAT(output, tut::test::ContainsSubstring("exit status 0"));
}

TEST_CASE("the websockets library's client gets 1009 for a message over the limit") {
  if (!tut::test::python_websockets_available()) return;
  tut::test::TempDir folder("test_026");
  const std::string script = folder.file("client.py", client_script);
  const auto output = tut::test::run_within(python_client_against_server(script, true), 50s);
  INFO(output);
  CHECK_THAT(output, tut::test::ContainsSubstring("python client: closed by the server with 1009"));
  CHECK_THAT(output, tut::test::ContainsSubstring("exit status 0"));
}

namespace {

const char* const server_script = R"(
import asyncio, logging, sys, websockets
logging.getLogger("websockets").setLevel(logging.CRITICAL)  # a failed handler's traceback
async def main(max_size):
    done = asyncio.get_running_loop().create_future()
    async def echo(ws, path=None):
        try:
            async for m in ws:
                await ws.send(m)
        finally:
            if not done.done():
                done.set_result(ws)
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=max_size) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        ws = await asyncio.wait_for(done, 30)
        await ws.wait_closed()
    sent = ws.close_sent.code if ws.close_sent else None
    print(f"python server: closed with {ws.close_code}, sent {sent}", flush=True)
asyncio.run(main(int(sys.argv[1])))
)";

// The Python server, started before the io_context runs: its first line is its port.
struct PythonServer {
  tut::test::TempDir folder{"test_026"};
  tut::test::Program program;
  std::string port;
  explicit PythonServer(int max_size)
      : program({python, folder.file("server.py", server_script), std::to_string(max_size)}) {
    if (program.read_until("\n", 30s))
      port = program.output().substr(0, program.output().find('\n'));
  }
  /// Its output after the port, and "exit status N", once it has exited (killed past 30 s).
  std::string finish() {
    const tut::test::Exit exit = program.wait(30s);
    return program.output().substr(port.size()) + "exit status " + std::to_string(exit.code);
  }
};

struct ClientResult {
  std::vector<Message> echoes;
  std::uint16_t code = 0;
  std::string error;
};

asio::awaitable<ClientResult> client_against_python(std::string port, std::size_t big) {
  ClientResult result;
  Options options;
  options.max_frame = 1000;  // the 70000-byte message goes as 70 fragments
  auto websocket = co_await WebSocket::connect("127.0.0.1", port, "/", options);
  if (big > 0) {
    try {
      Message message{true, std::string(big, 'z')};
      co_await websocket.send(std::move(message));
      auto reply = co_await websocket.receive();
      result.error = reply ? "echoed" : "closed";
    } catch (const ConnectionClosed& e) {
      result.code = e.code;
      result.error = e.what();
    }
    co_return result;
  }
  const std::vector<Message> messages = {{false, "hello"},
                                         {false, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"},
                                         {true, std::string(70'000, '\x01')},
                                         {false, ""}};
  for (const Message& message : messages) {
    websocket.ping("keepalive from C++");
    co_await websocket.send(message);
    auto reply = co_await websocket.receive();
    result.echoes.push_back(reply.value_or(Message{false, "<closed>"}));
  }
  co_await websocket.close();
  result.code = websocket.close_code();
  co_return result;
}

}  // namespace

TEST_CASE("this client talks to the websockets library's server") {
  if (!tut::test::python_websockets_available()) return;
  PythonServer server(100'000);
  REQUIRE_FALSE(server.port.empty());
  const auto result = tut::test::run_within(client_against_python(server.port, 0), 50s);
  const std::string output = server.finish();
  REQUIRE(result.echoes.size() == 4);
  CHECK(result.echoes[0] == Message{false, "hello"});
  CHECK(result.echoes[1] == Message{false, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"});
  CHECK(result.echoes[2] == Message{true, std::string(70'000, '\x01')});
  CHECK(result.echoes[3] == Message{false, ""});
  CHECK(result.code == 1000);
  CHECK_THAT(output, tut::test::ContainsSubstring("python server: closed with 1000, sent 1000"));
  CHECK_THAT(output, tut::test::ContainsSubstring("exit status 0"));
}

TEST_CASE("the websockets library's server closes this client with 1009 over its max_size") {
  if (!tut::test::python_websockets_available()) return;
  PythonServer server(1000);
  REQUIRE_FALSE(server.port.empty());
  const auto result = tut::test::run_within(client_against_python(server.port, 2000), 50s);
  const std::string output = server.finish();
  INFO(result.error);
  CHECK(result.code == 1009);
  // It fails the connection: sends 1009 and closes TCP without waiting for our answer.
  CHECK_THAT(output, tut::test::ContainsSubstring("python server: closed with 1006, sent 1009"));
  CHECK_THAT(output, tut::test::ContainsSubstring("exit status 0"));
}

// ------------------------------------------------------------------------- a browser

namespace {

using Browser = std::optional<tut::test::HeadlessChromium>;

struct BrowserRound {
  std::string got;  // what the page sent back after the echo
  WebSocketServer* server = nullptr;
};

asio::awaitable<std::string> browser_round_trip(Browser* browser) {
  auto executor = co_await asio::this_coro::executor;
  auto round = std::make_shared<BrowserRound>();
  // Echo, until the page reports what it received: then the round trip is proven.
  auto handler = [round](WebSocket websocket) -> asio::awaitable<void> {
    for (;;) {
      auto message = co_await websocket.receive();
      if (!message) co_return;
      if (message->data.starts_with("browser got: ")) {
        round->got = message->data;
        round->server->stop();
        co_return;
      }
      co_await websocket.send(std::move(*message));
    }
  };
  WebSocketServer server(executor, {localhost, 0}, handler);
  round->server = &server;
  browser->emplace("026", "http://127.0.0.1:" + std::to_string(server.port()) + "/");
  REQUIRE((*browser)->pid() > 0);
  auto serving = server.serve();
  co_await std::move(serving);
  co_return round->got;
}

}  // namespace

TEST_CASE("headless Chromium loads the page and echoes through a WebSocket") {
  if (!tut::test::chromium_available()) return;
  Browser browser;  // outside the coroutine: ended (its whole group) however the test ends
  const auto got = tut::test::run_within(browser_round_trip(&browser), 50s);
  CHECK(got == "browser got: hello from the browser");
}
