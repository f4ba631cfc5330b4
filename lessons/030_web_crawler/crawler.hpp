// Project 030: a web crawler, a whole program built from the lessons before it
// (`030_web_crawler --help`). What it does, and which lesson each piece comes from:
//   fetch a page                       lesson 025's Client (keep-alive pool, timeouts), with
//                                      redirects followed here, not in the client, so that
//                                      every hop passes the checks below
//   C workers on one frontier          lesson 010's PriorityQueue (lowest depth first) with
//                                      task_done()/join(): asyncio's classic crawler shape
//   at most P requests to one host     lesson 009's Semaphore, one per host
//   at most R requests a second        lesson 027's TokenBucket (burst 1), all hosts together
//   429 / 503: try again later         lesson 027's retry(): full-jitter backoff, and the
//                                      server's Retry-After replaces the wait
//   Ctrl-C                             lesson 022's run_service: stop taking pages, let the
//                                      ones in flight finish (grace), report what was fetched
//   a page is fetched once             the `seen` set of canonical URLs (RFC 3986 resolution
//                                      and normalisation by Debian's liburiparser)
//   robots.txt                         fetched once per host before any page of it; pages it
//                                      disallows are never requested (RFC 9309 matching)
//
// In asyncio: asyncio.Queue + N worker tasks + q.join(), aiohttp, a Semaphore per host,
// aiolimiter, tenacity, urllib.parse.urljoin and urllib.robotparser; progression.md says
// where this differs. Everything here belongs to one executor (one thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "http_client.hpp"  // lesson 025
#include "shutdown.hpp"     // lesson 022: TaskGroup, Stop

namespace lesson030 {

using std::chrono::milliseconds;

struct Options {
  std::vector<std::string> seeds;  ///< absolute http(s) URLs to start from
  int max_pages = 100;             ///< pages requested at most (robots.txt not counted)
  int concurrency = 4;             ///< requests in flight at most, all hosts together
  int per_host = 2;                ///< requests in flight at most to one host
  double rate = 10;                ///< requests per second at most, all hosts (0: no limit)
  int max_depth = 10;              ///< links followed from a seed (a redirect is no step)
  bool same_host = false;          ///< follow links to the seeds' hosts only
  std::string user_agent = "tutorial-crawler/1.0";  ///< sent, and matched in robots.txt
  int max_attempts = 4;            ///< per request: 429 and 503 are retried
  milliseconds backoff{200};       ///< the first backoff window; it doubles (lesson 027)
  milliseconds max_retry_after{30'000};  ///< a longer Retry-After is cut to this
  lesson025::Options http;         ///< timeouts and size limits of each request
};

/// One page requested (whatever its answer).
struct Page {
  std::string url;
  int depth = 0;
  int status = 0;        ///< the last answer's status; 0 when no answer came (error)
  int attempts = 0;      ///< requests made for it (more than 1 after a 429 / 503)
  std::string error;     ///< empty when it was fetched; else why it failed ("404 Not Found")
  std::string location;  ///< a redirect's target, resolved
};

struct Report {
  std::vector<Page> pages;               ///< in the order they finished
  std::vector<std::string> disallowed;   ///< found but not fetched: robots.txt said no
  std::size_t robots_fetched = 0;        ///< robots.txt requests (one per host)
  std::size_t retries = 0;               ///< requests repeated after a 429 / 503 / reset
  std::size_t not_fetched = 0;           ///< found but dropped: --max-pages, or interrupted
  bool interrupted = false;              ///< a Stop (Ctrl-C) ended the crawl early
  std::chrono::steady_clock::duration elapsed{};
  std::size_t failed() const;            ///< pages with an error
};

/// What the progress line shows, at any moment.
struct Progress {
  std::size_t done = 0, queued = 0, in_flight = 0, failed = 0;
  double rate = 0;  ///< pages finished per second since the start
};

/// The crawler. Make it, then co_await run() inside a task group (lesson 022), or use
/// crawl(). It must outlive run(); report() holds what was fetched also after a cancellation.
class Crawler {
 public:
  /// Throws std::invalid_argument for a seed that is not an http(s) URL or a limit below 1.
  Crawler(asio::any_io_executor executor, Options options);
  ~Crawler();

  /// Crawls until nothing is left to fetch, --max-pages is reached, or `stop` is requested;
  /// after a stop the requests in flight finish (their pages are reported), nothing new
  /// starts. The workers run as children of `tasks`.
  asio::awaitable<void> run(lesson022::TaskGroup tasks, lesson022::Stop stop);

  Report report() const;  ///< a copy: what was fetched so far
  Progress progress() const;

  struct Impl;  // the frontier, the hosts, the client: crawler.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

/// run() in a task group of its own; returns the report. A `stop` requested meanwhile ends
/// it as Ctrl-C does.
asio::awaitable<Report> crawl(Options options, lesson022::Stop stop);

}  // namespace lesson030
