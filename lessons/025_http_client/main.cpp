// Lesson 025 demo: an HTTP/1.1 client written by hand, against the lesson's tiny local server.
//   025_http_client                              the demonstration
//   025_http_client --get URL [options]          fetch one URL, the body to stdout (like curl -s)
//   025_http_client --serve [PORT]               the tiny keep-alive server (for curl, wrk, ...)
//   025_http_client --bench URL [options]        requests/s over keep-alive (--bench --help)
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "demo.hpp"
#include "http_client.hpp"
#include "log.hpp"
#include "run.hpp"

using namespace std::chrono_literals;
using namespace lesson025;

int run_bench(int argc, char** argv);  // bench.cpp

namespace {

// The demo server's pages. /slow/N answers after N milliseconds; /bad is not HTTP.
asio::awaitable<bool> demo_pages(TinyServer::Request request, asio::ip::tcp::socket& socket) {
  const std::string& page = request.target;
  std::string response = canned_response(404, "Not Found", "no such page\n");
  if (page == "/hello") response = canned_response(200, "OK", "Hello, world!\n", "Content-Type: text/plain\r\n");
  if (page == "/echo") response = canned_response(200, "OK", request.body);
  if (page == "/old") response = canned_response(302, "Found", "", "Location: /hello\r\n");
  if (page == "/loop") response = canned_response(302, "Found", "", "Location: /loop\r\n");
  if (page == "/bad") response = "HTTP/1.1 2OO OK\r\n\r\n";
  if (page == "/chunked")
    response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nchunked\r\n5\r\n body\r\n0\r\n\r\n";
  if (page.rfind("/slow/", 0) == 0) {
    asio::steady_timer timer(socket.get_executor(), std::chrono::milliseconds(std::stoi(page.substr(6))));
    co_await timer.async_wait(asio::use_awaitable);
    response = canned_response(200, "OK", "slow\n");
  }
  if (request.method == "HEAD") response.erase(response.find("\r\n\r\n") + 4);
  co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
  co_return page != "/bad";
}

std::string what(const std::exception& e) {
  return fmt::format("{}: {}", dynamic_cast<const HttpTimeout*>(&e) ? "HttpTimeout" : "HttpError", e.what());
}

asio::awaitable<void> keep_alive(TinyServer* server) {
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor);
  // The request's bytes, as format_request() writes them: CRLF after each line, a blank line.
  const std::string bytes = format_request("GET", Url::parse(server->url("/hello")), {}, "");
  for (std::size_t at = 0; at < bytes.size(); at = bytes.find("\r\n", at) + 2) {
    const auto line = bytes.substr(at, bytes.find("\r\n", at) - at);
    tut::log("main", "> {}", line.empty() ? "(an empty line: the end of the head)" : line);
  }
  for (int i = 0; i < 3; ++i) {
    const std::string url = server->url("/hello");
    auto response = co_await client.get(url);
    tut::log("main", "GET /hello -> {} {}, Content-Length {}, body \"Hello, world!\\n\"", response.status,
             response.reason, find_header(response.headers, "Content-Length").value_or("?"));
  }
  auto stats = client.stats();
  tut::log("main", "connections opened {}, requests on a reused one {}, idle now {}", stats.opened,
           stats.reused, stats.idle);
}

asio::awaitable<void> bodies(TinyServer* server) {
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor);
  const std::string chunked_url = server->url("/chunked"), echo_url = server->url("/echo");
  auto chunked = co_await client.get(chunked_url);
  tut::log("main", "GET /chunked -> {}, Transfer-Encoding: {}, body \"{}\"", chunked.status,
           find_header(chunked.headers, "Transfer-Encoding").value_or("?"), chunked.body);
  Request head{"HEAD", server->url("/hello")};
  auto headed = co_await client.request(std::move(head));
  tut::log("main", "HEAD /hello -> {}, Content-Length {}, body {} bytes", headed.status,
           find_header(headed.headers, "Content-Length").value_or("?"), headed.body.size());
  const std::string body = "a posted body", type = "text/plain";
  auto posted = co_await client.post(echo_url, body, type);
  tut::log("main", "POST /echo -> {}, body \"{}\"", posted.status, posted.body);
  tut::log("main", "all three on {} connection(s)", client.stats().opened);
}

asio::awaitable<void> redirects(TinyServer* server) {
  Options options;
  options.max_redirects = 3;
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor, options);
  const std::string old_url = server->url("/old"), loop_url = server->url("/loop");
  auto response = co_await client.get(old_url);
  tut::log("main", "GET /old -> {} from {} after {} redirect", response.status,
           response.url.substr(response.url.rfind('/')), response.redirects);
  try {
    co_await client.get(loop_url);
  } catch (const HttpError& e) {
    tut::log("main", "GET /loop -> {}", what(e));
  }
}

asio::awaitable<void> timeouts(TinyServer* server) {
  Options first_byte;
  first_byte.first_byte = 200ms;
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor, first_byte);
  const std::string slow_url = server->url("/slow/500");
  tut::log("main", "GET /slow/500 with Options::first_byte 0.2s");
  try {
    co_await client.get(slow_url);
  } catch (const HttpError& e) {
    tut::log("main", "{}", what(e));
  }
  Options total;
  total.total = 200ms;
  auto other_executor = co_await asio::this_coro::executor;
  Client other(other_executor, total);
  tut::log("main", "GET /slow/500 with Options::total 0.2s");
  try {
    co_await other.get(slow_url);
  } catch (const HttpError& e) {
    tut::log("main", "{}", what(e));
  }
}

asio::awaitable<void> many(TinyServer* server) {
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor);
  std::vector<std::string> urls{server->url("/slow/200"), server->url("/slow/200"),
                                server->url("/bad"), "http://127.0.0.1:1/",
                                server->url("/slow/200"), server->url("/slow/200")};
  tut::log("main", "6 URLs, at most 2 at a time: 2 slow, 2 that fail at once, 2 slow");
  auto results = co_await fetch_all(&client, urls, 2);
  for (const auto& result : results) {
    const auto page = result.url.substr(result.url.rfind('/'));
    if (result.response)
      tut::log("main", "  {} -> {} \"slow\"", page, result.response->status);
    else
      tut::log("main", "  {} -> {}", result.url.find(":1/") != std::string::npos ? "port 1" : page,
               result.error);
  }
  tut::log("main", "the failures did not stop the others; {} connections opened", client.stats().opened);
}

asio::awaitable<void> demo() {
  auto server_executor = co_await asio::this_coro::executor;
  TinyServer server(server_executor, demo_pages);
  fmt::print("the lesson's tiny server: http://127.0.0.1:{}/\n", server.port());
  tut::part("1. keep-alive: three GETs, one connection");
  co_await keep_alive(&server);
  tut::part("2. a chunked body, HEAD and POST");
  co_await bodies(&server);
  tut::part("3. redirects, at most 3");
  co_await redirects(&server);
  tut::part("4. timeouts: first byte, whole request");
  co_await timeouts(&server);
  tut::part("5. fetch_all: a semaphore of 2, errors stay with their request");
  co_await many(&server);
  server.stop();
}

asio::awaitable<void> serve(std::uint16_t port) {
  auto executor = co_await asio::this_coro::executor;
  static const std::string hello = canned_response(200, "OK", "Hello, world!\n");
  auto fast = [](TinyServer::Request, asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
    co_await asio::async_write(socket, asio::buffer(hello), asio::use_awaitable);
    co_return true;
  };
  TinyServer server(executor, fast, port);
  fmt::print("listening on http://127.0.0.1:{}/ (every page: 200 \"Hello, world!\"); Ctrl-C stops\n",
             server.port());
  std::fflush(stdout);
  asio::signal_set signals(executor, SIGINT, SIGTERM);
  co_await signals.async_wait(asio::use_awaitable);
  server.stop();
}

asio::awaitable<int> get(Request request, Options options) {
  auto client_executor = co_await asio::this_coro::executor;
  Client client(client_executor, options);
  auto response = co_await client.request(std::move(request));
  fmt::print(stderr, "{} {} ({} redirects, final URL {})\n", response.status, response.reason,
             response.redirects, response.url);
  for (const auto& [name, value] : response.headers) fmt::print(stderr, "{}: {}\n", name, value);
  std::fwrite(response.body.data(), 1, response.body.size(), stdout);
  co_return response.status < 400 ? 0 : 1;
}

int usage(int status) {
  fmt::print("usage: 025_http_client                       the demonstration\n"
             "       025_http_client --get URL [--head] [--data TEXT] [--ca FILE] [--timeout MS]\n"
             "                        fetch URL: the body to stdout, status and headers to stderr\n"
             "                        (https: --ca trusts that PEM file, else the system's CAs)\n"
             "       025_http_client --serve [PORT]        the tiny keep-alive server\n"
             "       025_http_client --bench URL [...]     requests/s (--bench --help)\n");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 1) {
      tut::run(demo());
      return 0;
    }
    const std::string mode = argv[1];
    if (mode == "--bench") return run_bench(argc - 1, argv + 1);
    if (mode == "--serve") {
      tut::run(serve(static_cast<std::uint16_t>(argc > 2 ? std::stoi(argv[2]) : 0)));
      return 0;
    }
    if (mode == "--get" && argc > 2) {
      Request request{"GET", argv[2]};
      Options options;
      for (int i = 3; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--head") request.method = "HEAD";
        else if (flag == "--data" && i + 1 < argc) request.method = "POST", request.body = argv[++i];
        else if (flag == "--ca" && i + 1 < argc) options.ca_file = argv[++i];
        else if (flag == "--timeout" && i + 1 < argc) options.total = std::chrono::milliseconds(std::stoi(argv[++i]));
        else return usage(2);
      }
      return tut::run(get(std::move(request), options));
    }
    return usage(mode == "--help" ? 0 : 2);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "025_http_client: {}\n", e.what());
    return 1;
  }
}
