// Lesson 025: the HTTP client against real peers no lesson wrote (Debian's python3 -m
// http.server, an aiohttp server, openssl s_server, curl for the same bytes) and against a
// tiny in-test server that writes malformed and hostile responses.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "http_client.hpp"
#include "program.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace lesson025;
using tut::test::ContainsSubstring;
using tut::test::run_within;

namespace {

// ---- real peers: child processes, a temporary folder, curl -----------------------------------

const char* const python = "/usr/bin/python3";  // Debian's, which sees python3-aiohttp

// run_within's limit for talks with a child process: a generous bound that only turns a hang
// into a failure (a starved machine once took more than the default 10 s for eight requests
// to a Python server), still under CTest's 60 s.
constexpr auto peer_limit = std::chrono::seconds(40);

bool runs_ok(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }
bool has_program(const std::string& name) { return runs_ok("command -v " + name); }
bool has_python_module(const std::string& module) {
  return access(python, X_OK) == 0 && runs_ok(std::string(python) + " -c 'import " + module + "'");
}

using tut::test::Program;
using tut::test::TempDir;

// A peer server started in `folder`, its stdout and stderr read together (Program kills and
// reaps it when destroyed).
Program::Options in_folder(const std::string& folder) {
  Program::Options options;
  options.err = Program::Stderr::to_stdout;
  options.directory = folder;
  return options;
}

// The first output line of `peer` containing `marker`, from the marker on; fails after 20 s or
// at its end.
std::string line_from(Program& peer, const std::string& marker) {
  const auto line = peer.line_with(marker, 20s);
  if (!line) FAIL("the peer did not print \"" << marker << "\"; it printed:\n" << peer.output());
  return line->substr(line->find(marker));
}

std::string capture(const std::string& command) {  // what a shell command prints on stdout
  std::string text;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
  REQUIRE(pclose(pipe) == 0);
  return text;
}

std::string some_bytes(std::size_t size) {  // every byte value, not text
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7 + i / 251) % 256);
  return bytes;
}

asio::awaitable<Response> get_with(Options options, std::string url) {
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor, options);
  co_return co_await client.get(url);
}

// ---- the in-test hostile server ----------------------------------------------------------------

// A TinyServer whose every request is answered with `bytes`, and then the connection closed.
TinyServer::Handler writes(std::string bytes) {
  return [bytes](TinyServer::Request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    co_await asio::async_write(socket, asio::buffer(bytes), compat::as_tuple(asio::use_awaitable));
    co_return false;
  };
}

// Writes `head`, then `line` over and over until the client hangs up.
TinyServer::Handler writes_forever(std::string head, std::string line) {
  return [head, line](TinyServer::Request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    std::string block;
    while (block.size() < 16 * 1024) block += line;
    co_await asio::async_write(socket, asio::buffer(head), compat::as_tuple(asio::use_awaitable));
    for (;;) {
      auto writing = asio::async_write(socket, asio::buffer(block), compat::as_tuple(asio::use_awaitable));
      auto [error, n] = co_await std::move(writing);
      if (error) co_return false;
    }
  };
}

// Reads the request and never answers; ends when the client hangs up.
asio::awaitable<bool> never_answers(TinyServer::Request, asio::ip::tcp::socket& socket) {
  char byte;
  co_await asio::async_read(socket, asio::buffer(&byte, 1), compat::as_tuple(asio::use_awaitable));
  co_return false;
}

// The error message a GET to a server with `handler` ends with ("" if it succeeded).
asio::awaitable<std::string> error_from(TinyServer::Handler handler, Options options,
                                        std::string page = "/") {
  auto server_executor = co_await asio::this_coro::executor;
  TinyServer server(server_executor, std::move(handler));
  std::string message;
  try {
    const std::string url = server.url(page);
    auto response = co_await get_with(options, url);
  } catch (const HttpError& e) {
    message = e.what();
  }
  co_return message;
}

std::string hostile(TinyServer::Handler handler, Options options = {}) {
  return run_within(error_from(std::move(handler), options));
}

}  // namespace

// ---- plain HTTP against real peers ---------------------------------------------------------

TEST_CASE("GET from python3 http.server gives the bytes curl gets") {
  if (!tut::test::peer_available(access(python, X_OK) == 0, "/usr/bin/python3 (apt-get install python3)")) return;
  if (!tut::test::peer_available(has_program("curl"), "curl (apt-get install curl)")) return;
  TempDir folder("test025");
  const std::string data = some_bytes(300 * 1000);
  folder.file("data.bin", data);
  Program server({python, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"}, in_folder(folder.path().string()));
  const auto line = line_from(server, "Serving HTTP on");
  const std::string base = "http://127.0.0.1:" + std::to_string(std::stoi(line.substr(line.find(" port ") + 6)));

  auto fetch = [&]() -> asio::awaitable<std::vector<Response>> {
    auto client_executor = co_await asio::this_coro::executor;
    Client client(client_executor);
    std::vector<Response> responses;
    for (std::string page : {"/data.bin", "/missing"}) {
      const std::string url = base + page;
      auto response = co_await client.get(url);
      responses.push_back(std::move(response));
    }
    co_return responses;
  };
  auto responses = run_within(fetch(), peer_limit);
  const std::string by_curl = capture("curl -s --max-time 20 " + base + "/data.bin");
  CHECK(responses[0].status == 200);
  CHECK(responses[0].body.size() == data.size());
  CHECK(responses[0].body == data);
  CHECK(responses[0].body == by_curl);
  CHECK(responses[1].status == 404);  // a response, not an error
}

TEST_CASE("an aiohttp server: keep-alive reuse, chunked, HEAD, POST and a redirect") {
  if (!tut::test::peer_available(has_python_module("aiohttp"),
                                 "/usr/bin/python3 with aiohttp (apt-get install python3-aiohttp)")) return;
  if (!tut::test::peer_available(has_program("curl"), "curl (apt-get install curl)")) return;
  TempDir folder("test025");
  folder.file("server.py", R"(
import asyncio
from aiohttp import web

async def hello(request):
    return web.Response(text="Hello from aiohttp\n")

async def chunked(request):
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(200):
        await response.write(f"part {i}\n".encode())
    await response.write_eof()
    return response

async def echo(request):
    return web.Response(body=await request.read())

async def moved(request):
    raise web.HTTPFound("/hello")

async def main():
    app = web.Application()
    app.add_routes([web.get("/hello", hello), web.get("/chunked", chunked),
                    web.post("/echo", echo), web.get("/moved", moved)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print("port", runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
)");
  Program server({python, "server.py"}, in_folder(folder.path().string()));
  const auto line = line_from(server, "port ");
  const std::string base = "http://127.0.0.1:" + line.substr(5);
  const std::string posted = some_bytes(100 * 1000);

  struct Seen {
    std::vector<Response> hellos;
    Response chunked, head, post, moved;
    Client::Stats stats;
  };
  auto talk = [&]() -> asio::awaitable<Seen> {
    auto client_executor = co_await asio::this_coro::executor;
    Client client(client_executor);
    Seen seen;
    const std::string hello = base + "/hello", chunked = base + "/chunked", echo = base + "/echo",
                      moved = base + "/moved";
    for (int i = 0; i < 3; ++i) {
      auto response = co_await client.get(hello);
      seen.hellos.push_back(std::move(response));
    }
    seen.chunked = co_await client.get(chunked);
    Request head{"HEAD", hello};
    seen.head = co_await client.request(head);
    const std::string type = "application/octet-stream";
    seen.post = co_await client.post(echo, posted, type);
    seen.moved = co_await client.get(moved);
    seen.stats = client.stats();
    co_return seen;
  };
  Seen seen = run_within(talk(), peer_limit);
  std::string expected_chunked;
  for (int i = 0; i < 200; ++i) expected_chunked += "part " + std::to_string(i) + "\n";
  for (const auto& hello : seen.hellos) CHECK(hello.body == "Hello from aiohttp\n");
  CHECK(find_header(seen.chunked.headers, "transfer-encoding") == std::optional<std::string>("chunked"));
  CHECK(seen.chunked.body == expected_chunked);
  CHECK(seen.chunked.body == capture("curl -s --max-time 20 " + base + "/chunked"));
  CHECK(seen.head.status == 200);
  CHECK(find_header(seen.head.headers, "Content-Length") == std::optional<std::string>("19"));
  CHECK(seen.head.body.empty());
  CHECK(seen.post.body == posted);
  CHECK(seen.moved.status == 200);
  CHECK(seen.moved.redirects == 1);
  CHECK(seen.moved.url == base + "/hello");
  CHECK(seen.moved.body == "Hello from aiohttp\n");
  // Eight requests, one connection: aiohttp keeps it alive and so does the client.
  CHECK(seen.stats.opened == 1);
  CHECK(seen.stats.reused == 7);
  CHECK(seen.stats.idle == 1);
}

TEST_CASE("curl fetches the lesson's tiny server") {
  if (!tut::test::peer_available(has_program("curl"), "curl (apt-get install curl)")) return;
  // The server runs on its own thread while curl, a child process, talks to it.
  asio::io_context context;
  auto work = asio::make_work_guard(context);
  TinyServer server(context.get_executor(), writes(canned_response(200, "OK", "tiny\n")));
  std::thread serving([&] { context.run(); });
  const std::string by_curl = capture("curl -s --max-time 20 " + server.url("/"));
  context.stop();
  serving.join();
  CHECK(by_curl == "tiny\n");
}

// ---- malformed and hostile responses: each a clear error, memory bounded ----------------------

TEST_CASE("a bad status line is refused") {
  CHECK_THAT(hostile(writes("HTTP/1.1 2OO OK\r\n\r\n")), ContainsSubstring("bad status line: \"HTTP/1.1 2OO OK\""));
  CHECK_THAT(hostile(writes("SSH-2.0-OpenSSH_9.2\r\n")), ContainsSubstring("bad status line"));
}

TEST_CASE("endless headers stop at the header limit") {
  CHECK(hostile(writes_forever("HTTP/1.1 200 OK\r\n", "X-Filler: 0123456789\r\n")) ==
        "the response has more than 100 header fields");
  Options options;
  options.limits.max_header_bytes = 16 * 1024;
  options.limits.max_headers = 1000 * 1000;
  CHECK(hostile(writes_forever("HTTP/1.1 200 OK\r\n", "X-Filler: 0123456789\r\n"), options) ==
        "the response headers are larger than the limit of 16384 bytes");
  CHECK(hostile(writes_forever("HTTP/1.1 200 OK\r\nX-Long: ", "aaaaaaaaaaaaaaaa")) ==
        "a header line is longer than the limit of 8192 bytes");
  CHECK(hostile(writes_forever("", "HTTP")) == "the status line is longer than the limit of 8192 bytes");
}

TEST_CASE("a chunk size of 2^60 is refused before any allocation") {
  CHECK(hostile(writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\nabc")) ==
        "a chunk of 0x1000000000000000 bytes would pass the body limit of 16777216 bytes");
  CHECK_THAT(hostile(writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "ffffffffffffffffffffffffffffffff\r\n")),
             ContainsSubstring("would pass the body limit"));
  CHECK_THAT(hostile(writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n")),
             ContainsSubstring("bad chunk-size line: \"xyz\""));
}

TEST_CASE("bodies over the limit are refused") {
  Options options;
  options.limits.max_body = 1000;
  CHECK(hostile(writes("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"), options) ==
        "Content-Length 1000000 is over the body limit of 1000 bytes");
  CHECK_THAT(hostile(writes("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")),
             ContainsSubstring("is over the body limit"));
  CHECK(hostile(writes_forever("HTTP/1.1 200 OK\r\n\r\n", "body "), options) ==
        "the body is larger than the limit of 1000 bytes");
  CHECK_THAT(hostile(writes("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")),
             ContainsSubstring("bad Content-Length"));
}

TEST_CASE("a body cut short is an error") {
  CHECK(hostile(writes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 13 bytes")) ==
        "the body was cut short: the connection closed after 13 of 100 bytes");
  CHECK(hostile(writes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort")) ==
        "the body was cut short: the connection closed after 5 of 18 bytes");
  CHECK(hostile(writes("HTTP/1.1 200 OK\r\nContent-")) == "the connection closed in the middle of a header line");
  CHECK(hostile(writes("")) == "the server closed the connection without a response");
}

TEST_CASE("a server that never answers meets the first-byte timeout") {
  Options options;
  options.first_byte = 100ms;
  CHECK_THAT(hostile(never_answers, options), ContainsSubstring("within 0.1s (Options::first_byte)"));
}

TEST_CASE("a listener whose accept queue is full meets the connect timeout") {
  auto run = []() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    // Listens with a backlog of 0 and never accepts: once one handshake waits in its queue,
    // Linux drops the next SYNs, and a connect() hangs (the kernel retries after 1 s, 3 s...).
    asio::ip::tcp::acceptor full(executor);
    const asio::ip::tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
    full.open(loopback.protocol());
    full.bind(loopback);
    full.listen(0);
    std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
    for (int i = 0; i < 4; ++i) {  // the SYN leaves inside async_connect's call, at once
      fillers.push_back(std::make_unique<asio::ip::tcp::socket>(executor));
      fillers.back()->async_connect(full.local_endpoint(), [](asio::error_code) {});
    }
    Options options;
    options.connect = 100ms;
    const std::string url = "http://127.0.0.1:" + std::to_string(full.local_endpoint().port()) + "/";
    std::string message;
    try {
      co_await get_with(options, url);
    } catch (const HttpError& e) {
      message = e.what();
    }
    co_return message;  // the fillers close here, cancelling their connects
  };
  CHECK_THAT(run_within(run()), ContainsSubstring("took longer than 0.1s (Options::connect)"));
}

TEST_CASE("the total timeout covers the whole request") {
  Options options;
  options.total = 100ms;
  auto trickle = [](TinyServer::Request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    // The head at once, then one body byte every 20 ms: no single read is slow.
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    co_await asio::async_write(socket, asio::buffer(head), compat::as_tuple(asio::use_awaitable));
    for (;;) {
      asio::steady_timer timer(socket.get_executor(), 20ms);
      co_await timer.async_wait(asio::use_awaitable);
      auto writing = asio::async_write(socket, asio::buffer("x", 1), compat::as_tuple(asio::use_awaitable));
      auto [error, n] = co_await std::move(writing);
      if (error) co_return false;
    }
  };
  const std::string message = hostile(trickle, options);
  CHECK(message == "the request took longer than 0.1s (Options::total)");
}

TEST_CASE("bad URLs and refused connections are clear errors") {
  auto refused_port = [] {
    asio::io_context context;
    asio::ip::tcp::acceptor acceptor(context, {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();  // closed when this returns: nobody listens
  }();
  auto message = [](std::string url) {
    auto attempt = [url]() -> asio::awaitable<std::string> {
      try {
        Options defaults;
        co_await get_with(defaults, url);
      } catch (const HttpError& e) {
        co_return e.what();
      }
      co_return "";
    };
    return run_within(attempt());
  };
  CHECK_THAT(message("http://127.0.0.1:" + std::to_string(refused_port) + "/"),
             ContainsSubstring("cannot connect to 127.0.0.1:"));
  CHECK(message("ftp://example.org/") == "unsupported scheme (http and https only): ftp://example.org/");
  CHECK(message("example.org/") == "not an absolute URL: example.org/");
  CHECK(message("http://127.0.0.1:99999/") == "bad port in URL: http://127.0.0.1:99999/");
}

// ---- redirects and the pool ------------------------------------------------------------------

TEST_CASE("redirects are followed a bounded number of times") {
  auto pages = [](TinyServer::Request request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    std::string response = canned_response(302, "Found", "", "Location: /loop\r\n");
    if (request.target == "/start") response = canned_response(307, "Temporary Redirect", "", "Location: next\r\n");
    if (request.target == "/next") response = canned_response(303, "See Other", "", "Location: /end\r\n");
    if (request.target == "/end") response = canned_response(200, "OK", request.method + " " + request.body);
    co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
    co_return true;
  };
  auto run = [&]() -> asio::awaitable<std::pair<Response, std::string>> {
    auto server_executor = co_await asio::this_coro::executor;
    TinyServer server(server_executor, pages);
    Options options;
    options.max_redirects = 5;
    auto client_executor = co_await asio::this_coro::executor;
    Client client(client_executor, options);
    // 307 repeats the POST and its body; 303 turns it into a GET without one.
    const std::string start = server.url("/start"), loop = server.url("/loop");
    const std::string data = "data", type = "text/plain";
    auto response = co_await client.post(start, data, type);
    std::string error;
    try {
      co_await client.get(loop);
    } catch (const HttpError& e) {
      error = e.what();
    }
    co_return std::make_pair(response, error);
  };
  auto [response, error] = run_within(run());
  CHECK(response.status == 200);
  CHECK(response.redirects == 2);
  CHECK(response.body == "GET ");
  CHECK_THAT(error, ContainsSubstring("too many redirects: more than 5, the last to http://127.0.0.1:"));
}

TEST_CASE("allow_redirects = false returns a 3xx as it is, Location and all") {
  // aiohttp's allow_redirects=False. Project 030's crawler follows redirects itself, so that
  // each hop passes its rate limit and its robots.txt check.
  auto pages = [](TinyServer::Request request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    std::string response = request.target == "/from"
                               ? canned_response(302, "Found", "", "Location: /to\r\n")
                               : canned_response(200, "OK", "arrived");
    co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
    co_return true;
  };
  auto run = [&]() -> asio::awaitable<std::pair<Response, Response>> {
    auto executor = co_await asio::this_coro::executor;
    TinyServer server(executor, pages);
    Client client(executor);
    Request request;
    request.url = server.url("/from");
    request.allow_redirects = false;
    auto asking = client.request(request);
    Response kept = co_await std::move(asking);
    request.allow_redirects = true;
    auto following = client.request(request);
    Response followed = co_await std::move(following);
    co_return std::make_pair(kept, followed);
  };
  auto [kept, followed] = run_within(run());
  CHECK(kept.status == 302);
  CHECK(kept.redirects == 0);
  CHECK(find_header(kept.headers, "Location") == "/to");
  CHECK(followed.status == 200);
  CHECK(followed.redirects == 1);
  CHECK(followed.body == "arrived");
}

TEST_CASE("a pooled connection the server closed is replaced for a GET but not for a POST") {
  // Answers with keep-alive (no Connection: close), then closes anyway: the client pools a
  // connection that is already dead, as when a server's idle timeout passes.
  auto run = [&](std::string method) -> asio::awaitable<std::pair<std::string, Client::Stats>> {
    auto server_executor = co_await asio::this_coro::executor;
    TinyServer server(server_executor, writes(canned_response(200, "OK", "once\n")));
    auto client_executor = co_await asio::this_coro::executor;
    Client client(client_executor);
    const std::string url = server.url("/");
    co_await client.get(url);
    std::string outcome;
    try {
      Request request{method, url, method == "POST" ? "data" : ""};
      auto response = co_await client.request(request);
      outcome = response.body;
    } catch (const HttpError& e) {
      outcome = e.what();
    }
    co_return std::make_pair(outcome, client.stats());
  };
  auto [got, get_stats] = run_within(run("GET"));
  CHECK(got == "once\n");
  CHECK(get_stats.opened == 2);
  CHECK(get_stats.reused == 1);
  auto [posted, post_stats] = run_within(run("POST"));
  CHECK(posted != "once\n");  // an error (closed, reset or broken pipe): not sent again
  CHECK(!posted.empty());
  CHECK(post_stats.opened == 1);
}

TEST_CASE("fetch_all keeps to its limit and keeps errors per request") {
  int running = 0, most = 0, served = 0;
  auto slow = [&](TinyServer::Request request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    if (request.target == "/bad") {
      const std::string bad = "HTTP/1.1 2OO\r\n\r\n";
      co_await asio::async_write(socket, asio::buffer(bad), asio::use_awaitable);
      co_return false;
    }
    most = std::max(most, ++running);
    asio::steady_timer timer(socket.get_executor(), 30ms);
    co_await timer.async_wait(asio::use_awaitable);
    --running;
    ++served;
    auto response = canned_response(200, "OK", request.target);
    co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
    co_return true;
  };
  auto run = [&]() -> asio::awaitable<std::vector<Fetched>> {
    auto server_executor = co_await asio::this_coro::executor;
    TinyServer server(server_executor, slow);
    auto client_executor = co_await asio::this_coro::executor;
    Client client(client_executor);
    std::vector<std::string> urls;
    for (int i = 0; i < 10; ++i) urls.push_back(server.url("/" + std::to_string(i)));
    urls.insert(urls.begin() + 3, server.url("/bad"));
    urls.insert(urls.begin() + 6, "http://127.0.0.1:1/");
    co_return co_await fetch_all(&client, urls, 3);
  };
  auto results = run_within(run());
  REQUIRE(results.size() == 12);
  int page = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == 3) {
      CHECK_THAT(results[i].error, ContainsSubstring("bad status line"));
    } else if (i == 6) {
      CHECK_THAT(results[i].error, ContainsSubstring("cannot connect to 127.0.0.1:1"));
    } else {
      REQUIRE(results[i].response);
      CHECK(results[i].response->body == "/" + std::to_string(page++));
    }
  }
  CHECK(served == 10);
  CHECK(most >= 1);
  CHECK(most <= 3);
}

// ---- HTTPS: a throwaway CA and certificates made with the openssl CLI --------------------------

namespace {

struct Certificates {
  TempDir folder{"test025"};
  // ca.pem signs localhost.pem (DNS:localhost, IP:127.0.0.1) and wrong.pem (DNS:wrong.example);
  // self.pem signs itself (nobody trusts it).
  Certificates() {
    const std::string dir = folder.path().string();
    folder.file("localhost.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    folder.file("wrong.ext", "subjectAltName=DNS:wrong.example\n");
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script = "cd " + dir + " && openssl req -x509" + key +
                         " -keyout ca.key -out ca.pem -days 2 -subj '/CN=Tutorial test CA'";
    for (std::string name : {"localhost", "wrong"})
      script += " && openssl req" + key + " -keyout " + name + ".key -out " + name + ".csr -subj /CN=" +
                name + " && openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " +
                name + ".pem -days 2 -extfile " + name + ".ext";
    script += " && openssl req -x509" + key + " -keyout self.key -out self.pem -days 2 -subj /CN=localhost"
              " -addext subjectAltName=DNS:localhost";
    REQUIRE(runs_ok(script));
    folder.file("page.txt", "served over TLS by openssl s_server\n");
  }
  std::string path(const std::string& name) const { return folder / name; }
};

// openssl s_server -WWW with `name`.pem: serves files of the folder; returns its port.
std::string start_s_server(std::unique_ptr<Program>& child, const Certificates& certs, const std::string& name) {
  child = std::make_unique<Program>(std::vector<std::string>{"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:0",
                                                             "-cert", certs.path(name + ".pem"), "-key",
                                                             certs.path(name + ".key"), "-WWW"},
                                    in_folder(certs.folder.path().string()));
  const auto line = line_from(*child, "ACCEPT");
  return line.substr(line.rfind(':') + 1);
}

std::string https_error(Options options, std::string url) {
  auto attempt = [options, url]() -> asio::awaitable<std::string> {
    try {
      co_await get_with(options, url);
    } catch (const HttpError& e) {
      co_return e.what();
    }
    co_return "";
  };
  return run_within(attempt(), peer_limit);
}

}  // namespace

TEST_CASE("https with a trusted CA gets the bytes curl gets") {
  if (!tut::test::peer_available(access("/usr/bin/openssl", X_OK) == 0, "the openssl CLI (apt-get install openssl)")) return;
  if (!tut::test::peer_available(has_program("curl"), "curl (apt-get install curl)")) return;
  Certificates certs;
  std::unique_ptr<Program> server;
  const auto port = start_s_server(server, certs, "localhost");
  Options options;
  options.ca_file = certs.path("ca.pem");
  auto response = run_within(get_with(options, "https://localhost:" + port + "/page.txt"), peer_limit);
  CHECK(response.status == 200);
  CHECK(response.body == "served over TLS by openssl s_server\n");
  CHECK(response.body == capture("curl -s --max-time 20 --cacert " + certs.path("ca.pem") +
                                 " https://localhost:" + port + "/page.txt"));
  auto by_address = run_within(get_with(options, "https://127.0.0.1:" + port + "/page.txt"), peer_limit);
  CHECK(by_address.body == response.body);  // the certificate names IP:127.0.0.1 too
}

TEST_CASE("https refuses an untrusted certificate and a wrong host name") {
  if (!tut::test::peer_available(access("/usr/bin/openssl", X_OK) == 0, "the openssl CLI (apt-get install openssl)")) return;
  Certificates certs;
  Options trusting;
  trusting.ca_file = certs.path("ca.pem");
  {
    std::unique_ptr<Program> server;
    const auto port = start_s_server(server, certs, "localhost");
    // Verification is on by default: the system's CAs do not know our throwaway CA.
    CHECK_THAT(https_error({}, "https://localhost:" + port + "/page.txt"),
               ContainsSubstring("TLS handshake with localhost:" + port +
                                 " failed: certificate verify failed: unable to get local issuer certificate"));
  }
  {
    std::unique_ptr<Program> server;
    const auto port = start_s_server(server, certs, "wrong");
    CHECK(https_error(trusting, "https://localhost:" + port + "/page.txt") ==
          "TLS handshake with localhost:" + port + " failed: certificate verify failed: hostname mismatch");
  }
  {
    std::unique_ptr<Program> server;
    const auto port = start_s_server(server, certs, "self");
    CHECK_THAT(https_error(trusting, "https://localhost:" + port + "/page.txt"),
               ContainsSubstring("certificate verify failed: self-signed certificate"));
  }
  Options missing;
  missing.ca_file = certs.path("no-such.pem");
  CHECK_THAT(https_error(missing, "https://localhost:1/"), ContainsSubstring("cannot load the trusted CAs from"));
}
