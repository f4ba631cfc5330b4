// How it is built: what a Crawler holds (Crawler::Impl), declared here so that crawler.cpp
// reads as the crawl itself. Worth a glance: the frontier is lesson 010's PriorityQueue of
// Jobs, `seen` the set of every URL ever queued, `hosts` one entry per origin with its
// lesson 009 Semaphore and its robots.txt rules; the rest are counters for the report.
// The constructor, report(), progress() and crawl() (run() in a task group of its own) are
// in crawler_how_it_is_built.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <asio/steady_timer.hpp>

#include "crawler.hpp"
#include "crawler_how_it_is_built.hpp"  // Robots, resolve_link, extract_links, parse_retry_after
#include "http_client.hpp"              // lesson 025
#include "queue.hpp"                    // lesson 010: PriorityQueue, task_done(), join()
#include "resilience.hpp"               // lesson 027: retry(), TokenBucket, ServiceError
#include "semaphore.hpp"                // lesson 009

namespace lesson030 {

using lesson025::Response;
using lesson025::Url;
using Clock = std::chrono::steady_clock;

/// One piece of work on the frontier. Lowest depth first, robots.txt (depth -1) before any
/// page, and in the order found within a depth: breadth first, as lesson 010's PriorityQueue
/// hands out the lowest item.
struct Job {
  int depth = 0;
  std::uint64_t order = 0;
  std::string url;
  bool robots = false;
  bool operator<(const Job& other) const {
    return std::tie(depth, order) < std::tie(other.depth, other.order);
  }
};

/// What the crawler knows of one host (one origin: scheme, host and port).
struct Host {
  std::unique_ptr<lesson009::Semaphore> permits;  ///< --per-host requests at a time
  enum { asking, known } robots_state = asking;
  Robots robots;
  std::vector<Job> parked;  ///< its pages found while its robots.txt was on its way
};

/// An exception's what(), for the report.
std::string describe(const std::exception_ptr& error);

struct Crawler::Impl {
  Impl(asio::any_io_executor executor, Options options);

  asio::any_io_executor executor;
  Options options;
  lesson025::Client client;
  lesson010::PriorityQueue<Job> frontier;  ///< found, not yet taken by a worker
  std::unique_ptr<lesson027::TokenBucket<asio::steady_timer>> bucket;  ///< null: no --rate
  lesson027::Random random = lesson027::seeded_random(30);  ///< the backoff's jitter
  std::set<std::string> seen;          ///< every URL ever queued: none is fetched twice
  std::set<std::string> seed_origins;  ///< for --same-host
  std::map<std::string, Host> hosts;   ///< by origin ("http://host:port")
  std::uint64_t found = 0;             ///< Job::order
  int started = 0;                     ///< pages requested, for --max-pages
  std::size_t in_flight = 0;
  Report report;
  Clock::time_point start = Clock::now();
  bool finished = false;

  void discover(const std::string& url, int depth);
  void enqueue(Job job);
  asio::awaitable<void> worker();
  asio::awaitable<void> watch(lesson022::Stop stop);
  asio::awaitable<void> crawl_page(Job job);
  asio::awaitable<void> read_robots(Job job);
  asio::awaitable<Response> fetch(std::string url, bool follow, int* attempts);
  asio::awaitable<std::string> attempt(std::string url, bool follow, std::shared_ptr<Response> out);
};

}  // namespace lesson030
