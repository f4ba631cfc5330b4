// How it is built: project 030's command line: the demo, a real crawl with its live progress
// line and Ctrl-C (lesson 022's run_service), and --serve-site. A learner can skip this file:
// it is plumbing around crawl() and Crawler::run(), which crawler.cpp teaches.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>  // isatty

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "crawler.hpp"
#include "crawler_how_it_is_built.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson030 {

namespace {

using namespace std::chrono_literals;

const char* const usage =
    "usage: 030_web_crawler [URL] [options]\n"
    "  (no URL)           the demo: crawls a small generated site on 127.0.0.1, prints its summary\n"
    "  URL                crawl from URL (http or https)\n"
    "  --max-pages N      request at most N pages (default 100)\n"
    "  --concurrency C    at most C requests in flight, all hosts (default 4)\n"
    "  --per-host P       at most P requests in flight to one host (default 2)\n"
    "  --rate R[/s]       at most R requests a second, all hosts; 0: no limit (default 10)\n"
    "  --depth D          follow links at most D steps from URL (default 10)\n"
    "  --same-host        follow links to URL's host only\n"
    "  --timeout S        seconds for one request (default 15)\n"
    "  --json             print the summary as JSON (every page, its status and depth)\n"
    "  --quiet            no progress line (it is shown only on a terminal anyway)\n"
    "  --serve-site N     serve a generated site of N pages on 127.0.0.1 until Ctrl-C\n"
    "  --port P           the port for --serve-site (default: any free one)\n"
    "Ctrl-C stops a crawl: requests in flight may finish (3 s at most), nothing new starts,\n"
    "and what was fetched is reported; a second Ctrl-C stops at once. robots.txt is obeyed,\n"
    "429 and 503 are retried (Retry-After honoured). Exit status: 0 done, 130 interrupted.\n";

// The live progress line on stderr, redrawn in place, while the crawl runs.
asio::awaitable<void> show_progress(std::shared_ptr<Crawler> crawler) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    fmt::print(stderr, "\r\033[K{}", progress_line(crawler->progress()));
    std::fflush(stderr);
    timer.expires_after(250ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// Ctrl-C: says so on stderr, on a line of its own (run_service's own log line is off).
asio::awaitable<void> announce_stop(std::shared_ptr<Crawler> crawler, lesson022::Stop stop) {
  co_await stop.wait();
  fmt::print(stderr, "\r\033[Kstopping: {} request(s) in flight may finish (3 s at most); "
             "Ctrl-C again stops at once\n", crawler->progress().in_flight);
}

asio::awaitable<void> crawl_service(std::shared_ptr<Crawler> crawler, bool progress,
                                    lesson022::TaskGroup tasks, lesson022::Stop stop) {
  std::optional<lesson022::Child<void>> ticker;
  if (progress) ticker = tasks.spawn(show_progress(crawler));
  auto announcer = tasks.spawn(announce_stop(crawler, stop));
  co_await crawler->run(tasks, stop);
  if (ticker) ticker->cancel();
  announcer.cancel();
}

asio::awaitable<int> crawl_command(Options options, bool json, bool progress) {
  auto crawler = std::make_shared<Crawler>(co_await asio::this_coro::executor, std::move(options));
  tut::set_logging(false);  // run_service's log lines would go to stdout: announce_stop says it
  lesson022::Service service = [crawler, progress](lesson022::TaskGroup tasks, lesson022::Stop stop) {
    return crawl_service(crawler, progress, tasks, stop);
  };
  lesson022::Ending ending = co_await lesson022::run_service(service, 3s);
  if (progress) fmt::print(stderr, "\r\033[K");
  const Report report = crawler->report();
  fmt::print("{}", json ? summary_json(report) : summary_text(report));
  std::fflush(stdout);
  co_return report.interrupted ? 130 : lesson022::exit_code(ending);
}

asio::awaitable<int> serve_site(int pages, int port) {
  auto executor = co_await asio::this_coro::executor;
  TestSite::Options options;
  options.pages = pages;
  options.port = static_cast<std::uint16_t>(port);
  TestSite site(executor, options);
  site.on_request([](int requests) {
    if (requests % 10 == 0) {
      fmt::print("{} requests\n", requests);
      std::fflush(stdout);
    }
  });
  fmt::print("serving a generated site of {} pages at {} (robots.txt, redirects, 404s, slow "
             "and busy pages); a line every 10 requests; Ctrl-C stops\n", pages, site.url("/"));
  std::fflush(stdout);
  asio::signal_set signals(executor, SIGINT, SIGTERM);
  co_await signals.async_wait(asio::use_awaitable);
  const auto seen = site.requests();
  int total = 0;
  for (const auto& [target, count] : seen) total += count;
  fmt::print("served {} requests for {} URLs, at most {} at once\n", total, seen.size(), site.max_in_flight());
  co_return 0;
}

// The demo: a crawl of a 40-page generated site, and what the site saw of it.
asio::awaitable<int> demo() {
  auto executor = co_await asio::this_coro::executor;
  TestSite::Options site_options;
  site_options.pages = 40;
  site_options.slow = 200ms;
  TestSite site(executor, site_options);
  Options options;
  options.seeds = {site.url("/")};
  options.concurrency = 4;
  options.per_host = 4;
  options.rate = 40;
  options.backoff = 100ms;
  fmt::print("crawling a generated site of 40 pages at {}\n", site.url("/"));
  fmt::print("  (--concurrency 4 --per-host 4 --rate 40/s; it has cycles, redirects, 404s, slow\n"
             "   pages, pages that answer 429 then 503, and a robots.txt)\n\n");
  lesson022::Stop never(executor);
  auto crawling = crawl(options, never);
  Report report = co_await std::move(crawling);
  const std::string origin = site.url("");
  fmt::print("{}\n", summary_text(report, origin));
  const auto expected = site.expected();
  const auto seen = site.requests();
  fmt::print("what the site saw:\n");
  fmt::print("  every reachable allowed page requested exactly once (a busy one 3 times): {}\n",
             seen == expected ? "yes" : "NO");
  fmt::print("  requests in flight at once, at most 4: {}\n", site.max_in_flight() <= 4 ? "yes" : "NO");
  fmt::print("  requests in any one second, at most 40 (+4 for timing): {}\n",
             site.max_in_window(1s) <= 44 ? "yes" : "NO");
  int disallowed_requested = 0;
  for (const auto& target : site.disallowed_linked()) disallowed_requested += seen.count(target) ? 1 : 0;
  fmt::print("  pages disallowed by robots.txt requested: {}\n", disallowed_requested);
  co_return 0;
}

bool read_int(const char* text, int* out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1'000'000'000) return false;
  *out = static_cast<int>(value);
  return true;
}

}  // namespace

int run_program(int argc, char** argv) {
  Options options;
  bool json = false, quiet = false;
  int site_pages = -1, port = 0, timeout_s = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    const char* value = has_value ? argv[i + 1] : "";
    bool ok = true;
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", usage);
      return 0;
    } else if (arg == "--same-host") {
      options.same_host = true;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--rate" && has_value) {
      char* end = nullptr;
      options.rate = std::strtod(value, &end);
      ok = end != value && (std::string_view(end).empty() || std::string_view(end) == "/s") &&
           options.rate >= 0;
      ++i;
    } else if (has_value && (arg == "--max-pages" || arg == "--concurrency" || arg == "--per-host" ||
                             arg == "--depth" || arg == "--timeout" || arg == "--serve-site" ||
                             arg == "--port")) {
      int* target = arg == "--max-pages"     ? &options.max_pages
                    : arg == "--concurrency" ? &options.concurrency
                    : arg == "--per-host"    ? &options.per_host
                    : arg == "--depth"       ? &options.max_depth
                    : arg == "--timeout"     ? &timeout_s
                    : arg == "--serve-site"  ? &site_pages
                                             : &port;
      ok = read_int(value, target);
      ++i;
    } else if (!arg.empty() && arg[0] != '-' && options.seeds.empty()) {
      options.seeds.push_back(std::string(arg));
    } else {
      ok = false;
    }
    if (!ok) {
      fmt::print(stderr, "030_web_crawler: bad argument '{}'\n{}", arg, usage);
      return 2;
    }
  }
  try {
    if (site_pages >= 0) {
      // Not tut::run: it would wait for every connection to close, and a crawler still
      // connected would keep the site from stopping. Stopping the context ends them all.
      asio::io_context context;
      int status = 0;
      asio::co_spawn(context, serve_site(site_pages, port), [&](std::exception_ptr error, int code) {
        if (error) std::rethrow_exception(error);
        status = code;
        context.stop();
      });
      context.run();
      return status;
    }
    if (options.seeds.empty()) return tut::run(demo());
    if (timeout_s < 1) throw std::invalid_argument("--timeout must be >= 1");
    options.http.total = std::chrono::seconds(timeout_s);
    options.http.first_byte = std::chrono::seconds(timeout_s);
    options.http.connect = std::chrono::seconds(std::min(timeout_s, 10));
    const bool progress = !quiet && isatty(STDERR_FILENO);
    return tut::run(crawl_command(options, json, progress));
  } catch (const std::exception& e) {
    fmt::print(stderr, "030_web_crawler: {}\n", e.what());
    return 2;
  }
}

}  // namespace lesson030
