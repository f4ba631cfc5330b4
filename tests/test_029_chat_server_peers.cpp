// Project 029 tests against clients no lesson wrote: Debian's Python `websockets` library
// (run by /usr/bin/python3, which sees Debian's packages) and headless Chromium loading the
// page the server serves, two of them chatting, each in the same room as TCP clients. A missing
// peer skips with the reason (and fails under TUTORIAL_NO_SKIP, as in CI).
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "peers.hpp"
#include "temp_dir.hpp"
#include "test_029_chat_server_support.hpp"

using namespace lesson029;
using namespace lesson029::test;

namespace {

const char* const python_client = R"(
import asyncio, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/chat") as ws:
        async def expect(prefix):
            while True:
                line = await asyncio.wait_for(ws.recv(), 30)
                if line.startswith(prefix):
                    return line
        await ws.send("/nick py")
        await expect("* you are now py")
        heard = await expect("[#lobby] alice: ")
        await ws.send("hello alice, from python")
        private = await expect("[pm] bob: ")
        print(f"python heard: {heard} | {private}", flush=True)
asyncio.run(main(sys.argv[1]))
)";

}  // namespace

TEST_CASE("two TCP clients and a Python websockets client talk in one room") {
  if (!tut::test::python_websockets_available()) return;
  tut::test::TempDir folder("test_029");
  const std::string script = folder.file("client.py", python_client);
  std::optional<tut::test::Program> python;  // ended (killed) however the test ends
  auto body = [&script, &python](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto alice = co_await Person::by_line(server->line_port());
    co_await alice.say("/nick alice");
    auto bob = co_await Person::by_line(server->line_port());
    co_await bob.say("/nick bob");
    auto renamed_bob = co_await alice.expect("* guest2 is now bob");
    CHECK(!renamed_bob.empty());
    python.emplace(std::vector<std::string>{"/usr/bin/python3", script,
                                            std::to_string(server->web_port())});
    auto renamed = co_await alice.expect("* guest3 is now py");
    CHECK(!renamed.empty());
    co_await alice.say("hello python");
    auto answer = co_await alice.expect("[#lobby] py: ");
    CHECK(answer == "[#lobby] py: hello alice, from python");
    auto bob_heard = co_await bob.expect("[#lobby] py: ");
    CHECK(bob_heard == "[#lobby] py: hello alice, from python");
    co_await bob.say("/msg py just for you");
    auto left = co_await alice.expect("* py left");
    CHECK(left == "* py left #lobby (disconnected)");
  };
  // The lambda captures by reference, but it is called (and its coroutine awaited) inside.
  run_chat(Options{.log = {}}, body);
  REQUIRE(python.has_value());
  const tut::test::Exit exit = python->wait(30s);  // its waits are bounded (30 s each)
  INFO(python->output());
  CHECK_THAT(python->output(),
             tut::test::ContainsSubstring(
                 "python heard: [#lobby] alice: hello python | [pm] bob: just for you"));
  CHECK(exit.code == 0);
}

// ------------------------------------------------------------------------- browsers

TEST_CASE("headless Chromium: two pages chat with each other, a TCP client in the room") {
  if (!tut::test::chromium_available()) return;
  using Browser = tut::test::HeadlessChromium;
  std::vector<std::unique_ptr<Browser>> browsers;
  auto body = [&browsers](ChatServer* server, Stop) -> asio::awaitable<void> {
    auto watcher = co_await Person::by_line(server->line_port());
    co_await watcher.say("/nick watcher");
    const std::string page = "http://127.0.0.1:" + std::to_string(server->web_port()) + "/";
    // bob answers the first line said in the room; alice speaks once bob is there.
    browsers.push_back(std::make_unique<Browser>("029_bob", page + "?nick=bob&answer=1"));
    browsers.push_back(std::make_unique<Browser>(
        "029_alice", page + "?nick=alice&say=hello%20from%20alice&when=bob"));
    REQUIRE(browsers[0]->pid() > 0);
    REQUIRE(browsers[1]->pid() > 0);
    auto said = co_await watcher.expect("[#lobby] ");
    CHECK(said == "[#lobby] alice: hello from alice");
    auto answered = co_await watcher.expect("[#lobby] ");
    CHECK(answered == "[#lobby] bob: saw: [#lobby] alice: hello from alice");
  };
  run_chat(Options{.log = {}}, body, std::chrono::seconds(50));
}
