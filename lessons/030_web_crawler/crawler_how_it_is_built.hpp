// How it is built: the parts of project 030 that are parsing and plumbing, not concurrency. A
// learner can skip this file: crawler.cpp shows the crawl and says what each call here gives.
// It holds
// - resolve_link(): a link as found in a page, made absolute against the page's URL, the RFC
//   3986 way (dot segments, "?q", "//host", "#frag" dropped), by Debian's liburiparser, then
//   in one canonical spelling so that one page has one key in the `seen` set;
// - extract_links(): the href="..." of a page's <a>/<area>/<link> tags, entities decoded;
// - Robots: robots.txt rules for one user agent (RFC 9309: groups, longest match wins,
//   Allow on a tie, `*` and `$` in patterns);
// - parse_retry_after(): Retry-After in delta-seconds;
// - the summary (text or --json) and the live progress line;
// - TestSite: a generated web site served on 127.0.0.1 by lesson 025's TinyServer, for the
//   demo, the tests and for trying the program (`--serve-site N`). It measures what it sees.
// - run_program(): the command line (main.cpp calls it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "crawler.hpp"
#include "http_how_it_is_built.hpp"  // lesson 025: TinyServer

namespace lesson030 {

/// `href` seen from the page at `base` (absolute), as one canonical absolute URL: scheme and
/// host in lower case, no default port, "/" for an empty path, dot segments removed, percent
/// escapes normalised, no fragment. Empty for a link that is not http(s) (mailto:, javascript:)
/// or does not parse.
std::optional<std::string> resolve_link(std::string_view base, std::string_view href);

/// The link targets in an HTML page, in order, with &amp; &lt; &gt; &quot; &#39; &#NN; decoded.
/// Not a full HTML parser: it reads the href attribute of a, area and link tags, skips
/// comments, and ignores <base>.
std::vector<std::string> extract_links(std::string_view html);

/// robots.txt for one user agent.
class Robots {
 public:
  static Robots allow_all() { return Robots{}; }
  static Robots disallow_all();
  /// The rules of the group for `user_agent`'s product token ("tutorial-crawler" of
  /// "tutorial-crawler/1.0"), or of the `*` group if none names it.
  static Robots parse(std::string_view text, std::string_view user_agent);
  /// `target` is a path with its query ("/a/b?c"). /robots.txt itself is always allowed.
  bool allowed(std::string_view target) const;

 private:
  struct Rule {
    std::string pattern;
    bool allow;
  };
  std::vector<Rule> rules_;
};

/// Retry-After as delta-seconds ("120"); nullopt for anything else (an HTTP date is not read).
std::optional<milliseconds> parse_retry_after(std::string_view value);

/// The end-of-crawl summary: counts, then each failure and each disallowed URL, sorted, so
/// the same crawl prints the same text whatever order the pages finished in.
/// URLs that start with `strip` are shown without it (the demo shows paths).
std::string summary_text(const Report& report, std::string_view strip = "");
/// The same as one JSON object (--json).
std::string summary_json(const Report& report);
/// "pages 12 done, 30 queued, 4 in flight, 1 failed, 9.8/s".
std::string progress_line(const Progress& progress);

/// The generated site. Page i (0 <= i < pages) is /s/<i % 10>/<i>.html and links to pages
/// 2i+1 and 2i+2 (a binary tree: all reachable from /), back to i/2 and to / (cycles), in
/// relative, absolute-path, absolute, dotted and #fragment spellings. Some pages add a special
/// link: /redirect/<i> (302 to a relative Location, page 2i+1), /missing/<i>.html (404),
/// /private/<i>.html (disallowed by robots.txt, but /private/open.html is allowed),
/// /slow/<i>.html (answers after `slow`), /busy/<i>.html (429 with Retry-After: 1, then 503,
/// then 200), /search?q=a&page=<i> (written with &amp;), and "mailto:"/"javascript:" links.
class TestSite {
 public:
  struct Options {
    int pages = 200;
    milliseconds slow{300};
    bool busy = true;   ///< the /busy/ pages (each costs a crawler a second's Retry-After)
    bool other_host = false;  ///< / also links to the same site as http://localhost:<port>/
    std::uint16_t port = 0;   ///< 0: any free port
  };
  TestSite(asio::any_io_executor executor, Options options);
  ~TestSite();
  std::string url(std::string_view target = "/") const;

  /// What a correct crawler of url("/") requests: target -> number of requests (1, or 3 for
  /// a /busy/ page, and 1 for /robots.txt), computed from the site's own link graph, up to
  /// `max_depth` links from /.
  std::map<std::string, int> expected(int max_depth = 1000) const;
  /// The targets robots.txt disallows that some reachable page links to.
  std::set<std::string> disallowed_linked() const;

  // What the site saw.
  std::map<std::string, int> requests() const;              ///< target -> count
  /// When requests arrived: all of them, or those for `target`.
  std::vector<std::chrono::steady_clock::time_point> arrivals(std::string_view target = "") const;
  int max_in_flight() const;
  std::set<std::string> hosts() const;  ///< the Host headers seen
  /// The most requests that arrived in any fixed window [k*window, (k+1)*window) counted
  /// from the first arrival.
  int max_in_window(std::chrono::steady_clock::duration window) const;
  /// Called at each request with the number of requests so far (a test stops a crawl there).
  void on_request(std::function<void(int)> callback);

  struct State;

 private:
  std::shared_ptr<State> state_;  // shared with the server's sessions, which may outlive it
  std::unique_ptr<lesson025::TinyServer> server_;
};

/// The program: the demo without arguments, a crawl with a URL, --serve-site, --help.
/// Returns the process's exit status.
int run_program(int argc, char** argv);

}  // namespace lesson030
