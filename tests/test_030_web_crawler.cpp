// Project 030: the crawler against a generated site served in-process on 127.0.0.1 (lesson
// 025's TinyServer): cycles, redirects, slow pages, broken links, 429s and a robots.txt. The
// site counts what it sees; the tests compare that with what its own link graph says a
// correct crawler requests. Then the parsing pieces, and the program in a child process.
#include "crawler.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "crawler_how_it_is_built.hpp"
#include "program.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using namespace lesson030;
using tut::test::run_within;
using tut::test::ContainsSubstring;

namespace {

using Requests = std::map<std::string, int>;

// The test site's targets, for comparing with what the crawler reports.
std::string target_of(const std::string& url) { return lesson025::Url::parse(url).target; }

// What the site saw against what it expected, one line per target that differs ("" if none):
// Catch2 v2 cannot print a std::map, so a failure says what differs this way.
std::string differences(const Requests& got, const Requests& wanted) {
  std::string out;
  auto line = [&out](const std::string& target, int n, int w) {
    if (n != w && std::count(out.begin(), out.end(), '\n') < 20)
      out += target + ": requested " + std::to_string(n) + ", expected " + std::to_string(w) + "\n";
  };
  for (const auto& [target, n] : got) line(target, n, wanted.count(target) ? wanted.at(target) : 0);
  for (const auto& [target, w] : wanted) line(target, got.count(target) ? got.at(target) : 0, w);
  return out;
}

Options options_for(const TestSite& site) {
  Options options;
  options.seeds = {site.url("/")};
  options.max_pages = 10'000;
  options.max_depth = 1'000;
  options.concurrency = 4;
  options.per_host = 4;
  options.rate = 0;  // no limit, unless a test sets one
  options.backoff = 20ms;
  return options;
}

struct Outcome {
  Report report;
  Requests requests;
  Requests expected;
  std::set<std::string> disallowed_linked;
  int max_in_flight = 0;
  int max_in_window = 0;
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::set<std::string> hosts;
  std::string origin;
};

// Crawls a fresh site with `site_options`; `adjust` changes the crawler's options.
template <typename Adjust>
Outcome crawl_site(TestSite::Options site_options, Adjust adjust, int expected_depth = 1000,
                   std::chrono::seconds limit = 50s) {
  auto test = [site_options, adjust, expected_depth]() -> asio::awaitable<Outcome> {
    auto executor = co_await asio::this_coro::executor;
    TestSite site(executor, site_options);
    Options options = options_for(site);
    adjust(options);
    lesson022::Stop never(executor);
    auto crawling = crawl(options, never);
    Outcome out;
    out.report = co_await std::move(crawling);
    out.requests = site.requests();
    out.expected = site.expected(expected_depth);
    out.disallowed_linked = site.disallowed_linked();
    out.max_in_flight = site.max_in_flight();
    out.max_in_window = site.max_in_window(1s);
    out.arrivals = site.arrivals();
    out.hosts = site.hosts();
    out.origin = site.url("");
    co_return out;
  };
  return run_within(test(), limit);
}

}  // namespace

// ---- the crawl against the generated site ---------------------------------------------------

TEST_CASE("every reachable allowed page of a 300-page site is fetched exactly once") {
  TestSite::Options site;
  site.pages = 300;
  site.slow = 100ms;
  auto out = crawl_site(site, [](Options&) {});
  // What the site saw is exactly what its own link graph says: each reachable page once,
  // a /busy/ page three times (429, 503, 200), robots.txt once, nothing else (no disallowed
  // page, no "&amp;" left in a query, no fragment, no mailto:, no commented-out link).
  CHECK(differences(out.requests, out.expected) == "");
  CHECK(out.expected.size() > 300);
  CHECK(out.expected.count("/search?q=a&page=25") == 1);
  CHECK(out.expected.count("/private/open.html") == 1);
  CHECK(out.max_in_flight <= 4);
  CHECK(out.report.robots_fetched == 1);
  CHECK_FALSE(out.report.interrupted);
  CHECK(out.report.not_fetched == 0);
  // The report: every page requested is in it once, robots.txt aside.
  std::set<std::string> reported;
  for (const Page& page : out.report.pages) CHECK(reported.insert(target_of(page.url)).second);
  CHECK(reported.size() == out.expected.size() - 1);
  // Failures are reported: each /missing/ page with its 404, and nothing else failed.
  std::size_t missing = 0;
  for (const Page& page : out.report.pages) {
    if (target_of(page.url).rfind("/missing/", 0) == 0) {
      ++missing;
      CHECK(page.error == "404 Not Found");
      CHECK(page.status == 404);
    } else {
      CHECK(page.error.empty());
    }
  }
  CHECK(missing == 30);
  CHECK(out.report.failed() == missing);
  // Redirects: each reported with its resolved target, which was fetched once (above).
  for (const Page& page : out.report.pages)
    if (target_of(page.url).rfind("/redirect/", 0) == 0) {
      CHECK(page.status == 302);
      CHECK(out.requests.count(target_of(page.location)) == 1);
    }
  // robots.txt: what it disallows was found, reported, never requested.
  std::set<std::string> disallowed;
  for (const auto& url : out.report.disallowed) disallowed.insert(target_of(url));
  CHECK(disallowed == out.disallowed_linked);
  CHECK(disallowed.size() == 30);
  for (const auto& target : disallowed) CHECK(out.requests.count(target) == 0);
}

TEST_CASE("never more requests in flight than --concurrency, nor than --per-host to one host") {
  TestSite::Options site;
  site.pages = 60;
  site.slow = 200ms;
  site.busy = false;
  auto overall = crawl_site(site, [](Options& o) {
    o.concurrency = 2;
    o.per_host = 8;
  });
  CHECK(differences(overall.requests, overall.expected) == "");
  CHECK(overall.max_in_flight <= 2);
  auto per_host = crawl_site(site, [](Options& o) {
    o.concurrency = 8;
    o.per_host = 3;
  });
  CHECK(differences(per_host.requests, per_host.expected) == "");
  CHECK(per_host.max_in_flight <= 3);
  // With one request at a time the crawl is strictly breadth first: each depth's pages are
  // requested before any of the next depth.
  auto one = crawl_site(site, [](Options& o) { o.concurrency = 1; });
  CHECK(one.max_in_flight == 1);
  int depth = 0;
  for (const Page& page : one.report.pages) {
    CHECK(page.depth >= depth);
    depth = std::max(depth, page.depth);
  }
}

TEST_CASE("never above --rate, measured at the server in fixed one-second windows") {
  TestSite::Options site;
  site.pages = 50;
  site.slow = 0ms;
  site.busy = false;
  const int rate = 20;
  auto out = crawl_site(site, [](Options& o) {
    o.rate = rate;
    o.concurrency = 8;
    o.per_host = 8;
  });
  CHECK(differences(out.requests, out.expected) == "");
  const auto n = static_cast<int>(out.arrivals.size());
  REQUIRE(n > 2 * rate);  // more than two seconds' worth
  // A token every 50 ms, burst 1: at most 20 in a window (21 if one lands on each edge). A
  // request that waited on a loaded machine can arrive later, closer to the next one: a few
  // more are allowed for that, far fewer than the hundreds a second without the limit.
  CHECK(out.max_in_window <= rate + 4);
  // And over the whole crawl: n requests need at least (n - 1) intervals.
  const auto span = out.arrivals.back() - out.arrivals.front();
  CHECK(span >= (n - 1) * 50ms - 300ms);
}

TEST_CASE("429 and 503 are retried, after the server's Retry-After") {
  TestSite::Options site;
  site.pages = 20;  // /busy/7.html and /busy/17.html
  site.slow = 0ms;
  auto test = [site]() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    TestSite served(executor, site);
    Options options = options_for(served);
    lesson022::Stop never(executor);
    auto crawling = crawl(options, never);
    Report report = co_await std::move(crawling);
    const auto busy = served.arrivals("/busy/7.html");
    REQUIRE(busy.size() == 3);  // 429 (Retry-After: 1), 503 (no Retry-After), 200
    CHECK(busy[1] - busy[0] >= 1s);
    CHECK(differences(served.requests(), served.expected()) == "");
    bool found = false;
    for (const Page& page : report.pages)
      if (target_of(page.url) == "/busy/7.html") {
        found = true;
        CHECK(page.status == 200);
        CHECK(page.attempts == 3);
        CHECK(page.error.empty());
      }
    CHECK(found);
    CHECK(report.retries == 4);  // two pages, two retries each
  };
  run_within(test(), 30s);
}

TEST_CASE("a page still answering 429 after the last attempt is reported failed") {
  auto test = []() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    int asked = 0;
    auto handler = [&asked](lesson025::TinyServer::Request request,
                            asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
      std::string response = lesson025::canned_response(404, "Not Found", "");
      if (request.target == "/") {
        ++asked;
        response = lesson025::canned_response(429, "Too Many Requests", "", "Retry-After: 0\r\n");
      }
      co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
      co_return true;
    };
    lesson025::TinyServer server(executor, handler);
    Options options;
    options.seeds = {server.url("/")};
    options.max_attempts = 3;
    options.rate = 0;
    lesson022::Stop never(executor);
    auto crawling = crawl(options, never);
    Report report = co_await std::move(crawling);
    server.stop();
    CHECK(asked == 3);
    REQUIRE(report.pages.size() == 1);
    CHECK(report.pages[0].attempts == 3);
    CHECK(report.pages[0].error == "429 Too Many Requests");
    CHECK(report.failed() == 1);
  };
  run_within(test(), 20s);
}

TEST_CASE("robots.txt unreachable (503) disallows everything, a 404 allows everything") {
  for (const int robots_status : {503, 404}) {
    auto test = [robots_status]() -> asio::awaitable<std::vector<std::string>> {
      auto executor = co_await asio::this_coro::executor;
      auto seen = std::make_shared<std::vector<std::string>>();
      auto handler = [seen, robots_status](lesson025::TinyServer::Request request,
                                           asio::ip::tcp::socket& socket) -> asio::awaitable<bool> {
        seen->push_back(request.target);
        std::string response =
            request.target == "/robots.txt"
                ? lesson025::canned_response(robots_status, "No", "")
                : lesson025::canned_response(200, "OK", "<a href=/a>a</a>", "Content-Type: text/html\r\n");
        co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
        co_return true;
      };
      lesson025::TinyServer server(executor, handler);
      Options options;
      options.seeds = {server.url("/")};
      options.max_attempts = 2;
      options.backoff = 10ms;
      options.rate = 0;
      lesson022::Stop never(executor);
      auto crawling = crawl(options, never);
      Report report = co_await std::move(crawling);
      server.stop();
      if (robots_status == 503) {
        CHECK(report.disallowed.size() == 1);
        CHECK(report.pages.empty());
      }
      co_return *seen;
    };
    auto seen = run_within(test(), 20s);
    if (robots_status == 503) {
      CHECK(seen == std::vector<std::string>{"/robots.txt", "/robots.txt"});  // retried once
    } else {
      CHECK(seen == std::vector<std::string>{"/robots.txt", "/", "/a"});
    }
  }
}

TEST_CASE("the max-pages and depth options limit the crawl") {
  TestSite::Options site;
  site.pages = 100;
  site.slow = 0ms;
  site.busy = false;
  auto few = crawl_site(site, [](Options& o) { o.max_pages = 10; });
  int requested = 0;
  for (const auto& [target, count] : few.requests) requested += target == "/robots.txt" ? 0 : count;
  CHECK(requested == 10);
  CHECK(few.report.pages.size() == 10);
  CHECK(few.report.not_fetched > 0);
  // Depth 3: /, page 0, pages 1-2 and what they link to, and no further.
  auto shallow = crawl_site(site, [](Options& o) { o.max_depth = 3; }, 3);
  CHECK(differences(shallow.requests, shallow.expected) == "");
  CHECK(shallow.expected.count("/s/3/3.html") == 1);
  CHECK(shallow.expected.count("/s/7/7.html") == 0);
  for (const Page& page : shallow.report.pages) CHECK(page.depth <= 3);
}

TEST_CASE("the same-host option follows no link to another host") {
  TestSite::Options site;
  site.pages = 30;
  site.slow = 0ms;
  site.busy = false;
  site.other_host = true;  // / links to the same site as http://localhost:<port>/
  auto out = crawl_site(site, [](Options& o) { o.same_host = true; });
  CHECK(differences(out.requests, out.expected) == "");
  CHECK(out.hosts == std::set<std::string>{out.origin.substr(7)});  // "127.0.0.1:<port>"
}

TEST_CASE("a stop ends the crawl: what was fetched is reported, nothing new starts") {
  auto test = []() -> asio::awaitable<void> {
    auto executor = co_await asio::this_coro::executor;
    TestSite::Options site_options;
    site_options.pages = 300;
    site_options.slow = 100ms;
    TestSite site(executor, site_options);
    lesson022::Stop stop(executor);
    site.on_request([stop](int requests) {
      if (requests == 30) stop.request();  // Ctrl-C, in the middle of the 30th request
    });
    Options options = options_for(site);
    options.concurrency = 3;
    options.rate = 100;
    auto crawling = crawl(options, stop);
    Report report = co_await std::move(crawling);
    int requests = 0;
    for (const auto& [target, count] : site.requests()) requests += count;
    CHECK(report.interrupted);
    CHECK(report.not_fetched > 0);
    // The requests already waiting for their turn may go out, no others: at most one per
    // worker after the 30th.
    CHECK(requests <= 30 + 3);
    // Every page the site answered is in the report (robots.txt and retried pages aside).
    std::set<std::string> reported;
    for (const Page& page : report.pages) reported.insert(target_of(page.url));
    for (const auto& [target, count] : site.requests())
      if (target != "/robots.txt") CHECK(reported.count(target) == 1);
  };
  run_within(test(), 30s);
}

// ---- the pieces -----------------------------------------------------------------------------

TEST_CASE("resolve_link resolves references as RFC 3986 section 5.4 says") {
  const std::string base = "http://a/b/c/d;p?q";
  const std::map<std::string, std::string> examples = {
      {"g", "http://a/b/c/g"},      {"./g", "http://a/b/c/g"},       {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},         {"//g", "http://g/"},            {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},  {"#s", "http://a/b/c/d;p?q"},    {"g#s", "http://a/b/c/g"},
      {";x", "http://a/b/c/;x"},    {"", "http://a/b/c/d;p?q"},      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},      {"..", "http://a/b/"},           {"../g", "http://a/b/g"},
      {"../..", "http://a/"},       {"../../g", "http://a/g"},       {"../../../g", "http://a/g"},
      {"/./g", "http://a/g"},       {"/../g", "http://a/g"},         {"g.", "http://a/b/c/g."},
      {"..g", "http://a/b/c/..g"},  {"./../g", "http://a/b/g"},      {"g;x=1/../y", "http://a/b/c/y"},
      {"  g  ", "http://a/b/c/g"},
  };
  for (const auto& [reference, resolved] : examples) {
    INFO(reference);
    CHECK(resolve_link(base, reference) == resolved);
  }
  // One canonical spelling per page: scheme and host case, default port, %-escapes, empty path.
  CHECK(resolve_link(base, "HTTP://Example.COM:80/%7euser/a%2fb") == "http://example.com/~user/a%2Fb");
  CHECK(resolve_link(base, "https://example.com:443") == "https://example.com/");
  CHECK(resolve_link(base, "http://example.com:8080/x") == "http://example.com:8080/x");
  // Not http(s), or not a URL: nothing to crawl.
  CHECK_FALSE(resolve_link(base, "mailto:someone@example.com"));
  CHECK_FALSE(resolve_link(base, "javascript:void(0)"));
  CHECK_FALSE(resolve_link(base, "ftp://example.com/file"));
  CHECK_FALSE(resolve_link(base, "http://exa mple.com/"));
}

TEST_CASE("extract_links reads the href of a, area and link tags, decoding entities") {
  const std::string html =
      "<html><head><link rel=stylesheet href=\"/style.css\"><script>var s = '<a href=\"/no\">';"
      "</script></head><body>\n"
      "<A HREF='one.html'>1</A> <a class=x href = \"two.html?a=1&amp;b=2\">2</a>\n"
      "<!-- <a href=\"commented.html\">no</a> -->\n"
      "<a href=three.html>3</a> <img src=\"image.png\" alt=\"a > b\"> <area href=\"&#47;four\">\n"
      "<a title=\"href=fake\" href=\"five.html\">5</a> <a name=anchor>no href</a></body></html>";
  CHECK(extract_links(html) == std::vector<std::string>{"/style.css", "one.html", "two.html?a=1&b=2",
                                                        "three.html", "/four", "five.html"});
}

TEST_CASE("Robots: the group naming us or *, the longest match wins, Allow on a tie") {
  const std::string text =
      "# comment\n"
      "User-agent: otherbot\n"
      "Disallow: /\n"
      "\n"
      "User-agent: *\n"
      "Disallow: /private/\n"
      "Allow: /private/open\n"
      "Disallow: /*.pdf$\n"
      "Disallow: /tmp # a comment after a rule\n"
      "Disallow:\n";
  const Robots any = Robots::parse(text, "tutorial-crawler/1.0");
  CHECK(any.allowed("/"));
  CHECK(any.allowed("/public/page.html"));
  CHECK_FALSE(any.allowed("/private/"));
  CHECK_FALSE(any.allowed("/private/x.html"));
  CHECK(any.allowed("/private/open.html"));  // the longer Allow wins
  CHECK_FALSE(any.allowed("/docs/a.pdf"));
  CHECK(any.allowed("/docs/a.pdf?download=1"));  // `$`: the end of the path
  CHECK_FALSE(any.allowed("/tmp"));
  CHECK_FALSE(any.allowed("/tmpfiles/x"));  // a prefix
  CHECK(any.allowed("/robots.txt"));
  const Robots named = Robots::parse(text, "OtherBot/2.0");  // case-insensitive product token
  CHECK_FALSE(named.allowed("/public/page.html"));
  const Robots tie = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "x");
  CHECK(tie.allowed("/a"));
  const Robots grouped = Robots::parse("User-agent: a\nUser-agent: b\nDisallow: /x\n", "b/1");
  CHECK_FALSE(grouped.allowed("/x"));
  CHECK(Robots::parse("", "x").allowed("/anything"));
  CHECK_FALSE(Robots::disallow_all().allowed("/anything"));
}

TEST_CASE("parse_retry_after reads delta-seconds only") {
  CHECK(parse_retry_after("1") == milliseconds(1000));
  CHECK(parse_retry_after(" 120 ") == milliseconds(120'000));
  CHECK(parse_retry_after("0") == milliseconds(0));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CHECK_FALSE(parse_retry_after("-1"));
  CHECK_FALSE(parse_retry_after(""));
}

TEST_CASE("the summary lists failures and disallowed pages sorted, and --json says the same") {
  Report report;
  report.pages = {{"http://h/b", 1, 404, 1, "404 Not Found", ""},
                  {"http://h/", 0, 200, 1, "", ""},
                  {"http://h/a", 1, 500, 1, "500 Internal Server Error", ""},
                  {"http://h/r", 1, 302, 1, "", "http://h/"}};
  report.disallowed = {"http://h/z", "http://h/y"};
  report.robots_fetched = 1;
  const std::string text = summary_text(report, "http://h");
  CHECK_THAT(text, ContainsSubstring("4 pages: 1 ok, 1 redirected, 2 failed; 2 disallowed by robots.txt"));
  CHECK(text.find("failed      /a: 500") < text.find("failed      /b: 404"));
  CHECK(text.find("disallowed  /y") < text.find("disallowed  /z"));
  const std::string json = summary_json(report);
  CHECK_THAT(json, ContainsSubstring("\"pages\": 4, \"failed\": 2, \"disallowed\": 2"));
  CHECK_THAT(json, ContainsSubstring("{\"url\": \"http://h/r\", \"status\": 302, \"depth\": 1, "
                                     "\"attempts\": 1, \"location\": \"http://h/\"}"));
  CHECK_THAT(json, ContainsSubstring("\"disallowed_urls\": [\"http://h/y\", \"http://h/z\"]"));
}

// ---- the program, as a person runs it -------------------------------------------------------

using tut::test::Program;

TEST_CASE("the program: Ctrl-C stops a real crawl of --serve-site, and it reports what it got") {
  // Two processes, as a person would run them: the site, then the crawler pointed at it.
  auto site = Program::built("030_web_crawler", {"--serve-site", "500"});
  site.read_until("Ctrl-C stops", 20s);
  const std::string banner = site.output();
  const auto at = banner.find("http://127.0.0.1:");
  std::string url;
  if (at != std::string::npos) url = banner.substr(at, banner.find(' ', at) - at);
  CHECK_FALSE(url.empty());
  tut::test::Exit crawler_exit;
  std::string output, site_log;
  if (!url.empty()) {
    auto crawler = Program::built("030_web_crawler", {url, "--rate", "20/s", "--json", "--max-pages", "1000"});
    // The site prints a line every 10 requests: Ctrl-C once it has served 20 (of about 800).
    site.read_until("20 requests", 60s);
    site_log = site.output().substr(banner.size());
    crawler.signal(SIGINT);
    crawler.read_until("", 20s);
    crawler_exit = crawler.wait(20s);
    output = crawler.output();
  }
  const std::size_t before_end = site.output().size();
  site.signal(SIGINT);
  site.read_until("", 20s);
  const std::string site_end = site.output().substr(before_end);
  const tut::test::Exit site_exit = site.wait(20s);
  CHECK_THAT(site_log, ContainsSubstring("20 requests"));
  CHECK(crawler_exit.code == 130);
  CHECK_THAT(output, ContainsSubstring("\"interrupted\": true"));
  CHECK_THAT(output, ContainsSubstring("\"status\": 200"));
  CHECK(output.find("\"pages\": 0,") == std::string::npos);
  CHECK(site_exit.code == 0);
  CHECK_THAT(site_end, ContainsSubstring("served "));
}

TEST_CASE("the program refuses a bad argument and lists its flags with --help") {
  auto help = Program::built("030_web_crawler", {"--help"});
  help.read_until("", 20s);
  CHECK(help.wait(20s).code == 0);
  const std::string& text = help.output();
  for (const char* flag : {"--max-pages", "--concurrency", "--per-host", "--rate", "--depth",
                           "--same-host", "--json", "--serve-site"})
    CHECK_THAT(text, ContainsSubstring(flag));
  auto bad = Program::built("030_web_crawler", {"http://127.0.0.1:1/", "--rate", "fast"});
  bad.read_until("", 20s);
  CHECK(bad.wait(20s).code == 2);
}

TEST_CASE("a crawl of a folder served by python3 -m http.server, a server no lesson wrote") {
  if (!tut::test::peer_available(std::filesystem::exists("/usr/bin/python3"), "/usr/bin/python3"))
    return;
  // A small site on disk: relative links with dot segments, a folder link without its slash
  // (http.server answers 301 to "/a/"), a robots.txt.
  const auto folder = std::filesystem::temp_directory_path() /
                      ("test030-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::create_directories(folder / "a" / "b");
  auto write = [&folder](const std::string& name, const std::string& text) {
    std::FILE* file = std::fopen((folder / name).c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs(text.c_str(), file);
    std::fclose(file);
  };
  write("index.html", "<a href=\"a/x.html\">x</a> <a href='/a'>a</a> <a href=\"a/b/../y.html#z\">y</a>");
  write("a/x.html", "<a href=\"../index.html\">home</a> <a href=\"b/secret.html\">secret</a>");
  write("a/y.html", "<a href=\"./x.html\">x</a> <a href=\"missing.html\">broken</a>");
  write("a/b/secret.html", "<a href=\"/\">home</a>");
  write("robots.txt", "User-agent: *\nDisallow: /a/b/\n");
  const std::string log_path = (folder.parent_path() / (folder.filename().string() + ".log")).string();
  Program::Options logged;  // its stderr, where http.server logs each request
  logged.err = Program::Stderr::file;
  logged.err_file = log_path;
  Program server({"/usr/bin/python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                  "--directory", folder.string()},
                 logged);
  server.read_until(") ...", 20s);  // "Serving HTTP on ... port N (...) ..."
  const std::string& banner = server.output();
  const auto at = banner.find(" port ");
  const std::string port = at == std::string::npos ? "" : banner.substr(at + 6, banner.find(' ', at + 6) - at - 6);
  Report report;
  if (!port.empty()) {
    auto test = [port]() -> asio::awaitable<Report> {
      Options options;
      options.seeds = {"http://127.0.0.1:" + port + "/"};
      options.rate = 0;
      lesson022::Stop never(co_await asio::this_coro::executor);
      auto crawling = crawl(options, never);
      co_return co_await std::move(crawling);
    };
    report = run_within(test(), 30s);
  }
  server.signal(SIGTERM);
  server.wait(20s);
  std::string log;
  if (std::FILE* file = std::fopen(log_path.c_str(), "r")) {
    char chunk[4096];
    while (auto n = std::fread(chunk, 1, sizeof chunk, file)) log.append(chunk, n);
    std::fclose(file);
  }
  std::filesystem::remove_all(folder);
  std::filesystem::remove(log_path);
  REQUIRE_FALSE(port.empty());
  std::map<std::string, int> statuses;
  for (const Page& page : report.pages) statuses[target_of(page.url)] = page.status;
  CHECK(statuses == std::map<std::string, int>{{"/", 200}, {"/a", 301}, {"/a/", 200},
                                               {"/a/x.html", 200}, {"/a/y.html", 200},
                                               {"/a/missing.html", 404}, {"/index.html", 200}});
  std::set<std::string> disallowed;  // the link in x.html, and b/ in the listing of /a/
  for (const auto& url : report.disallowed) disallowed.insert(target_of(url));
  CHECK(disallowed == std::set<std::string>{"/a/b/", "/a/b/secret.html"});
  // The server's own log: each of those once, robots.txt once, nothing under /a/b/.
  std::size_t gets = 0;
  for (auto get = log.find("\"GET "); get != std::string::npos; get = log.find("\"GET ", get + 1)) ++gets;
  CHECK(gets == 8);
  CHECK_THAT(log, ContainsSubstring("\"GET /robots.txt HTTP/1.1\" 200"));
  CHECK(log.find("GET /a/b/") == std::string::npos);
}
