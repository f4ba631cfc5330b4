// Project 030: the crawl. Read crawler.hpp first, then crawler_state.hpp's Crawler::Impl (what
// the crawler holds: the frontier, the `seen` set, one entry per host). Link parsing,
// robots.txt rules and the command line are in crawler_how_it_is_built.cpp: skip them.
#include "crawler.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <fmt/core.h>

#include <asio/steady_timer.hpp>

#include "crawler_state.hpp"  // Crawler::Impl: the frontier, `seen`, the hosts, the client
#include "run.hpp"            // tut::is_cancellation

namespace lesson030 {

// ---- the frontier: what was found, and what to do with it ----------------------------------

// Every link and redirect goes through here: a URL is queued at most once, ever.
void Crawler::Impl::discover(const std::string& url, int depth) {
  if (depth > options.max_depth) return;
  const Url parsed = Url::parse(url);  // resolve_link() gave a canonical http(s) URL
  if (options.same_host && seed_origins.count(parsed.origin()) == 0) return;
  if (!seen.insert(url).second) return;  // found before: queued (or fetched) already
  Job job{depth, ++found, url, false};
  auto [entry, first_of_host] = hosts.try_emplace(parsed.origin());
  Host& host = entry->second;
  if (first_of_host) {  // a new host: its robots.txt goes first, its pages wait for it
    host.permits = std::make_unique<lesson009::Semaphore>(executor, options.per_host);
    const std::string robots_url = parsed.origin() + "/robots.txt";
    seen.insert(Url::parse(robots_url).to_string());  // a link to it is not a page to crawl
    enqueue(Job{-1, ++found, robots_url, true});
  }
  if (host.robots_state == Host::asking) {
    host.parked.push_back(std::move(job));
  } else if (host.robots.allowed(parsed.target)) {
    enqueue(std::move(job));
  } else {
    report.disallowed.push_back(url);
  }
}

void Crawler::Impl::enqueue(Job job) {
  try {
    frontier.try_put(std::move(job));  // unbounded: never waits
  } catch (const lesson010::QueueShutDown&) {
    ++report.not_fetched;  // found after a stop
  }
}

// asyncio's crawler worker: take a URL, fetch it, queue its links, task_done(), again.
// `concurrency` of these run, so at most that many requests are in flight.
asio::awaitable<void> Crawler::Impl::worker() {
  for (;;) {
    Job job;
    try {
      job = co_await frontier.get();
    } catch (const lesson010::QueueShutDown&) {
      co_return;  // run() shut the frontier: the crawl is over
    }
    if (job.robots) {
      co_await read_robots(std::move(job));
    } else {
      co_await crawl_page(std::move(job));
    }
    frontier.task_done();
  }
}

// Ctrl-C (lesson 022's Stop): drop what is queued; the workers finish the page they hold.
asio::awaitable<void> Crawler::Impl::watch(lesson022::Stop stop) {
  co_await stop.wait();
  report.interrupted = true;
  report.not_fetched += frontier.size();
  frontier.shutdown(true);  // drops the queued jobs and counts them done for join()
}

// ---- one page -------------------------------------------------------------------------------

asio::awaitable<void> Crawler::Impl::crawl_page(Job job) {
  if (started == options.max_pages) {
    ++report.not_fetched;
    co_return;
  }
  ++started;
  Page page;
  page.url = job.url;
  page.depth = job.depth;
  Response response;
  std::exception_ptr failure;
  try {
    auto fetching = fetch(job.url, false, &page.attempts);
    response = co_await std::move(fetching);
  } catch (...) {
    failure = std::current_exception();  // (no co_await in a catch block)
  }
  if (failure) {
    if (tut::is_cancellation(failure)) std::rethrow_exception(failure);  // forced stop
    page.error = describe(failure);  // a timeout, a refused connection, 429 to the end...
    report.pages.push_back(std::move(page));
    co_return;
  }
  page.status = response.status;
  const auto location = lesson025::find_header(response.headers, "Location");
  const auto type = lesson025::find_header(response.headers, "Content-Type");
  if (response.status >= 300 && response.status < 400 && location) {
    // A redirect is followed here, as a link found at the same depth: its target is checked
    // against `seen` and robots.txt and waits for the rate limit like any page.
    if (auto target = resolve_link(response.url, *location)) {
      page.location = *target;
      discover(*target, job.depth);
    }
  } else if (response.status >= 400) {
    page.error = fmt::format("{} {}", response.status, response.reason);
  } else if (!type || type->find("html") != std::string::npos) {
    for (const std::string& href : extract_links(response.body))
      if (auto link = resolve_link(response.url, href)) discover(*link, job.depth + 1);
  }
  report.pages.push_back(std::move(page));
}

// robots.txt, RFC 9309's three cases: found (its rules), 4xx "unavailable" (no rules), and
// unreachable (5xx after the retries, no answer): everything disallowed.
asio::awaitable<void> Crawler::Impl::read_robots(Job job) {
  ++report.robots_fetched;
  int attempts = 0;
  Robots robots = Robots::disallow_all();
  std::exception_ptr failure;
  try {
    auto fetching = fetch(job.url, true, &attempts);  // robots.txt may redirect (RFC 9309)
    Response response = co_await std::move(fetching);
    if (response.status >= 200 && response.status < 300) {
      robots = Robots::parse(response.body, options.user_agent);
    } else if (response.status >= 400 && response.status < 500) {
      robots = Robots::allow_all();
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure && tut::is_cancellation(failure)) std::rethrow_exception(failure);
  Host& host = hosts[Url::parse(job.url).origin()];
  host.robots = std::move(robots);
  host.robots_state = Host::known;
  for (Job& parked : std::exchange(host.parked, {})) {
    if (host.robots.allowed(Url::parse(parked.url).target)) {
      enqueue(std::move(parked));
    } else {
      report.disallowed.push_back(parked.url);
    }
  }
}

// ---- one request, with the limits and the retries -------------------------------------------

// Lesson 027's retry() around attempt(): a 429 or 503 waits (the server's Retry-After, or a
// full-jitter backoff) and tries again, up to max_attempts. Each attempt waits for its host's
// permit and a token of the rate limit again: a retry is a request like any other. After a
// stop (Ctrl-C) no retry goes out: the page is reported failed.
asio::awaitable<Response> Crawler::Impl::fetch(std::string url, bool follow, int* attempts) {
  auto out = std::make_shared<Response>();
  lesson027::Attempt one = [this, url, follow, out, attempts] {
    if (*attempts > 0 && report.interrupted) throw std::runtime_error("stopped before a retry");
    ++*attempts;
    return attempt(url, follow, out);
  };
  lesson027::RetryPolicy policy;
  policy.max_attempts = options.max_attempts;
  policy.base = options.backoff;
  policy.cap = std::max(options.backoff, milliseconds(5'000));
  policy.random = random;
  policy.before_sleep = [this](int, const std::exception_ptr&, milliseconds) { ++report.retries; };
  auto retrying = lesson027::retry<asio::steady_timer>(std::move(one), std::move(policy));
  co_await std::move(retrying);
  co_return std::move(*out);
}

asio::awaitable<std::string> Crawler::Impl::attempt(std::string url, bool follow,
                                                    std::shared_ptr<Response> out) {
  Host& host = hosts[Url::parse(url).origin()];  // std::map: the reference stays valid
  auto permit = co_await host.permits->acquire();  // --per-host
  if (bucket) co_await bucket->acquire();          // --rate, all hosts together
  lesson025::Request request;
  request.url = url;
  request.headers = {{"User-Agent", options.user_agent}};
  request.allow_redirects = follow;
  ++in_flight;
  std::exception_ptr failure;
  try {
    auto requesting = client.request(std::move(request));
    *out = co_await std::move(requesting);
  } catch (...) {
    failure = std::current_exception();
  }
  --in_flight;
  if (failure) std::rethrow_exception(failure);
  if (out->status == 429 || out->status == 503) {  // "not now": lesson 027's ServiceError
    auto after = parse_retry_after(lesson025::find_header(out->headers, "Retry-After").value_or(""));
    if (after) after = std::min(*after, options.max_retry_after);
    throw lesson027::ServiceError(out->status, out->reason, after);
  }
  co_return std::string();
}

// ---- the whole crawl ------------------------------------------------------------------------

asio::awaitable<void> Crawler::run(lesson022::TaskGroup tasks, lesson022::Stop stop) {
  Impl& c = *impl_;
  c.start = Clock::now();
  for (const std::string& seed : c.options.seeds) c.discover(seed, 0);
  for (int i = 0; i < c.options.concurrency; ++i) tasks.spawn(c.worker());
  auto watcher = tasks.spawn(c.watch(stop));
  co_await c.frontier.join();  // every job found is done (or was dropped by a stop)
  c.frontier.shutdown();       // the workers' next get() throws QueueShutDown: they end
  watcher.cancel();
  c.report.elapsed = Clock::now() - c.start;
  c.finished = true;
}

}  // namespace lesson030
