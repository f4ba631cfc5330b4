// How it is built: `025_http_client --bench`, the lesson's side of bench/http_bench.sh (which
// runs it next to wrk and an aiohttp client). A learner can skip this file: it is command-line
// plumbing around the same Client::get the lesson teaches.
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "http_client.hpp"
#include "run.hpp"

using namespace lesson025;

namespace {

struct BenchOptions {
  std::string url;
  int connections = 16;
  double seconds = 5, warmup = 1;
  long requests = 0;  ///< > 0: exactly this many requests, no warm-up (for callgrind's counts)
};

struct Shared {
  bool measuring = false, stop = false;
  long requests = 0;
  long limit = 0, started = 0;  // limit > 0: callers stop once `limit` requests have started
  int running = 0;
};

// One of `connections` callers: GET after GET; the pool gives each its own keep-alive connection.
asio::awaitable<void> caller(Client* client, std::string url, Shared* shared) {
  ++shared->running;
  while (!shared->stop && (shared->limit == 0 || shared->started < shared->limit)) {
    ++shared->started;
    auto response = co_await client->get(url);
    if (response.status != 200) throw HttpError(fmt::format("status {}", response.status));
    if (shared->measuring) ++shared->requests;
  }
  --shared->running;
}

asio::awaitable<void> sleep_for(double seconds) {
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds)));
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<double> measure(BenchOptions options) {
  auto executor = co_await asio::this_coro::executor;
  Options client_options;
  client_options.max_idle_per_host = static_cast<std::size_t>(options.connections);
  Client client(executor, client_options);
  Shared shared;
  std::exception_ptr failure;
  for (int i = 0; i < options.connections; ++i)
    asio::co_spawn(executor, caller(&client, options.url, &shared), [&](std::exception_ptr error) {
      if (error && !failure) failure = error;
      if (error) shared.stop = true;
    });
  const bool counted = options.requests > 0;
  shared.limit = options.requests;
  if (!counted) co_await sleep_for(options.warmup);
  shared.measuring = true;
  const auto start = std::chrono::steady_clock::now();
  if (counted) {
    while (shared.running > 0 && !failure) co_await sleep_for(0.01);
  } else {
    co_await sleep_for(options.seconds);
  }
  shared.measuring = false;
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  shared.stop = true;
  while (shared.running > 0 && !failure) co_await sleep_for(0.01);  // the last requests finish
  if (failure) std::rethrow_exception(failure);
  if (client.stats().opened != static_cast<std::size_t>(options.connections))
    throw HttpError(fmt::format("expected {} connections, opened {}", options.connections,
                                client.stats().opened));
  co_return static_cast<double>(shared.requests) / took;
}

}  // namespace

int run_bench(int argc, char** argv) {
  BenchOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    if (flag == "--connections" && has_value) options.connections = std::stoi(argv[++i]);
    else if (flag == "--seconds" && has_value) options.seconds = std::stod(argv[++i]);
    else if (flag == "--warmup" && has_value) options.warmup = std::stod(argv[++i]);
    else if (flag == "--requests" && has_value) options.requests = std::stol(argv[++i]);
    else if (flag.rfind("http", 0) == 0 && options.url.empty()) options.url = flag;
    else {
      fmt::print("usage: 025_http_client --bench URL [--connections N(16)] [--seconds S(5)] [--warmup W(1)]\n"
                 "                                  [--requests R]\n"
                 "GETs URL over N keep-alive connections from one thread for S seconds (after W\n"
                 "seconds of warm-up) and prints `<n> requests/s`. bench/http_bench.sh runs it.\n"
                 "--requests R: exactly R requests instead, no warm-up (for instruction counts\n"
                 "under callgrind: total Ir / R).\n");
      return flag == "--help" ? 0 : 2;
    }
  }
  if (options.url.empty()) options.url = "http://127.0.0.1:8080/";
  const double rate = tut::run(measure(options));
  if (options.requests > 0)
    fmt::print("{} connections, {} requests: {:.0f} requests/s\n", options.connections, options.requests, rate);
  else
    fmt::print("{} connections, {:.1f} s: {:.0f} requests/s\n", options.connections, options.seconds, rate);
  return 0;
}
