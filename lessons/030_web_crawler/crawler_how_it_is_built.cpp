// How it is built: project 030's parsing and plumbing (crawler_how_it_is_built.hpp says what
// each piece is). A learner can skip this file; crawler.cpp is the crawl.
#include "crawler_how_it_is_built.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

#include <uriparser/Uri.h>  // Debian's liburiparser: RFC 3986 references

#include <fmt/core.h>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "crawler_state.hpp"
#include "run.hpp"

namespace lesson030 {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n\f");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n\f");
  return text.substr(first, last - first + 1);
}

// A parsed uriparser URI that frees its members when it goes.
struct UriHolder {
  UriUriA uri{};
  bool owned = false;
  ~UriHolder() {
    if (owned) uriFreeUriMembersA(&uri);
  }
};

bool parse_uri(UriHolder& holder, const std::string& text) {
  const char* error_at = nullptr;
  holder.owned = uriParseSingleUriA(&holder.uri, text.c_str(), &error_at) == URI_SUCCESS;
  return holder.owned;
}

std::string range(const UriTextRangeA& r) {
  return r.first ? std::string(r.first, r.afterLast) : std::string();
}

void append_utf8(std::string& out, unsigned long code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x110000) {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

std::string decode_entities(std::string_view text) {
  static const std::pair<std::string_view, char> named[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto semicolon = text[i] == '&' ? text.find(';', i) : std::string_view::npos;
    if (semicolon == std::string_view::npos || semicolon - i > 10) {
      out += text[i];
      continue;
    }
    const auto name = text.substr(i + 1, semicolon - i - 1);
    bool done = false;
    if (!name.empty() && name[0] == '#') {
      const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      const std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long code = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && *end == '\0') {
        append_utf8(out, code);
        done = true;
      }
    } else {
      for (const auto& [entity, c] : named)
        if (name == entity) {
          out += c;
          done = true;
        }
    }
    if (done) {
      i = semicolon;
    } else {
      out += '&';
    }
  }
  return out;
}

// Matches a robots.txt path pattern: `*` is any run of characters, a final `$` anchors the
// end; otherwise the pattern is a prefix.
bool pattern_matches(std::string_view pattern, std::string_view path) {
  std::string p(pattern);
  if (!p.empty() && p.back() == '$') {
    p.pop_back();
  } else {
    p += '*';
  }
  std::size_t pi = 0, si = 0, star = std::string::npos, mark = 0;
  while (si < path.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == path[si]) {
      ++pi;
      ++si;
    } else if (star != std::string::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

// ---- links ----------------------------------------------------------------------------------

std::optional<std::string> resolve_link(std::string_view base, std::string_view href) {
  // uriparser's ranges point into these strings, so they are declared first: destroyed last.
  const std::string base_text(base);
  std::string href_text(trim(href));
  href_text = href_text.substr(0, href_text.find('#'));  // the fragment is never sent
  UriHolder base_uri, reference, absolute;
  if (!parse_uri(base_uri, base_text) || !parse_uri(reference, href_text)) return std::nullopt;
  // RFC 3986 section 5.2: the reference resolved against the base (dot segments removed).
  absolute.owned = uriAddBaseUriA(&absolute.uri, &reference.uri, &base_uri.uri) == URI_SUCCESS;
  if (!absolute.owned) return std::nullopt;
  // Section 6.2.2: lower-case scheme and host, upper-case %xx, %41 -> A.
  if (uriNormalizeSyntaxA(&absolute.uri) != URI_SUCCESS) return std::nullopt;
  const std::string scheme = lower(range(absolute.uri.scheme));
  if ((scheme != "http" && scheme != "https") || range(absolute.uri.hostText).empty())
    return std::nullopt;
  int chars = 0;
  if (uriToStringCharsRequiredA(&absolute.uri, &chars) != URI_SUCCESS) return std::nullopt;
  std::string text(static_cast<std::size_t>(chars) + 1, '\0');
  int written = 0;
  if (uriToStringA(text.data(), &absolute.uri, chars + 1, &written) != URI_SUCCESS)
    return std::nullopt;
  text.resize(static_cast<std::size_t>(chars));
  try {  // lesson 025's spelling: no default port, "/" for an empty path
    return Url::parse(text).to_string();
  } catch (const lesson025::HttpError&) {
    return std::nullopt;  // user:password@, a bad port
  }
}

std::vector<std::string> extract_links(std::string_view html) {
  std::vector<std::string> links;
  std::size_t i = 0;
  while ((i = html.find('<', i)) != std::string_view::npos) {
    if (html.substr(i, 4) == "<!--") {
      const auto end = html.find("-->", i + 4);
      if (end == std::string_view::npos) break;
      i = end + 3;
      continue;
    }
    std::size_t at = i + 1;
    while (at < html.size() && std::isalnum(static_cast<unsigned char>(html[at]))) ++at;
    const std::string tag = lower(html.substr(i + 1, at - i - 1));
    // The attributes, up to the closing '>' (one inside quotes does not close the tag).
    while (at < html.size() && html[at] != '>') {
      if (std::isspace(static_cast<unsigned char>(html[at])) || html[at] == '/') {
        ++at;
        continue;
      }
      const auto name_start = at;
      while (at < html.size() && !std::isspace(static_cast<unsigned char>(html[at])) &&
             html[at] != '=' && html[at] != '>' && html[at] != '/')
        ++at;
      const std::string name = lower(html.substr(name_start, at - name_start));
      while (at < html.size() && std::isspace(static_cast<unsigned char>(html[at]))) ++at;
      if (at >= html.size() || html[at] != '=') continue;  // an attribute without a value
      ++at;
      while (at < html.size() && std::isspace(static_cast<unsigned char>(html[at]))) ++at;
      std::string_view value;
      if (at < html.size() && (html[at] == '"' || html[at] == '\'')) {
        const auto close = html.find(html[at], at + 1);
        if (close == std::string_view::npos) return links;
        value = html.substr(at + 1, close - at - 1);
        at = close + 1;
      } else {
        const auto value_start = at;
        while (at < html.size() && !std::isspace(static_cast<unsigned char>(html[at])) &&
               html[at] != '>')
          ++at;
        value = html.substr(value_start, at - value_start);
      }
      if (name == "href" && (tag == "a" || tag == "area" || tag == "link"))
        links.push_back(decode_entities(value));
    }
    i = at;
    if (tag == "script" || tag == "style") {  // their text is not HTML
      const auto end = lower(html.substr(i)).find("</" + tag);
      if (end == std::string::npos) break;
      i += end;
    }
  }
  return links;
}

// ---- robots.txt -----------------------------------------------------------------------------

Robots Robots::disallow_all() {
  Robots robots;
  robots.rules_.push_back({"/", false});
  return robots;
}

Robots Robots::parse(std::string_view text, std::string_view user_agent) {
  const std::string token = lower(user_agent.substr(0, user_agent.find('/')));
  std::vector<Rule> mine, any;
  bool named_us = false, in_agent_lines = false, group_mine = false, group_any = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    line = trim(line.substr(0, line.find('#')));
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string key = lower(trim(line.substr(0, colon)));
    const auto value = trim(line.substr(colon + 1));
    if (key == "user-agent") {
      if (!in_agent_lines) group_mine = group_any = false;  // a new group starts
      in_agent_lines = true;
      const std::string agent = lower(value);
      if (agent == "*") group_any = true;
      if (agent == token) group_mine = named_us = true;
      continue;
    }
    in_agent_lines = false;
    if ((key != "allow" && key != "disallow") || value.empty()) continue;  // "Disallow:" = none
    const Rule rule{std::string(value), key == "allow"};
    if (group_mine) mine.push_back(rule);
    if (group_any) any.push_back(rule);
  }
  Robots robots;
  robots.rules_ = named_us ? mine : any;
  return robots;
}

bool Robots::allowed(std::string_view target) const {
  if (target == "/robots.txt") return true;
  const Rule* best = nullptr;  // the longest matching pattern; Allow wins a tie
  for (const Rule& rule : rules_) {
    if (!pattern_matches(rule.pattern, target)) continue;
    if (!best || rule.pattern.size() > best->pattern.size() ||
        (rule.pattern.size() == best->pattern.size() && rule.allow))
      best = &rule;
  }
  return !best || best->allow;
}

std::optional<milliseconds> parse_retry_after(std::string_view value) {
  value = trim(value);
  if (value.empty() || value.size() > 9 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return milliseconds(std::stol(std::string(value)) * 1000);
}

// ---- the crawler's set-up and read-outs -----------------------------------------------------

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

Crawler::Impl::Impl(asio::any_io_executor executor_in, Options options_in)
    : executor(std::move(executor_in)),
      options(std::move(options_in)),
      client(executor, options.http) {
  if (options.rate > 0) {  // one token every 1/rate seconds, a burst of 1
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate));
    bucket = std::make_unique<lesson027::TokenBucket<asio::steady_timer>>(executor, 1, interval, 1);
  }
  for (const std::string& seed : options.seeds) seed_origins.insert(Url::parse(seed).origin());
}

Crawler::Crawler(asio::any_io_executor executor, Options options) {
  if (options.concurrency < 1 || options.per_host < 1 || options.max_pages < 0 ||
      options.max_depth < 0 || options.rate < 0 || options.max_attempts < 1)
    throw std::invalid_argument(
        "concurrency, per-host and attempts must be >= 1; pages, depth, rate >= 0");
  for (std::string& seed : options.seeds) {
    auto canonical = resolve_link(seed, seed);
    if (!canonical) throw std::invalid_argument("not an http(s) URL: " + seed);
    seed = *canonical;
  }
  options.http.max_idle_per_host = static_cast<std::size_t>(options.per_host);
  impl_ = std::make_unique<Impl>(std::move(executor), std::move(options));
}

Crawler::~Crawler() = default;

// run() in a task group of its own (lesson 022): the workers are its children.
asio::awaitable<Report> crawl(Options options, lesson022::Stop stop) {
  Crawler crawler(co_await asio::this_coro::executor, std::move(options));
  auto body = [&crawler, stop](lesson022::TaskGroup tasks) { return crawler.run(tasks, stop); };
  co_await lesson022::with_task_group(std::move(body));
  co_return crawler.report();
}

Report Crawler::report() const {
  Report report = impl_->report;
  if (!impl_->finished) report.elapsed = Clock::now() - impl_->start;
  return report;
}

Progress Crawler::progress() const {
  const Impl& c = *impl_;
  Progress p;
  p.done = c.report.pages.size();
  p.queued = c.frontier.size();
  for (const auto& [origin, host] : c.hosts) p.queued += host.parked.size();
  p.in_flight = c.in_flight;
  p.failed = c.report.failed();
  const double seconds = std::chrono::duration<double>(Clock::now() - c.start).count();
  p.rate = seconds > 0 ? static_cast<double>(p.done) / seconds : 0;
  return p;
}

std::size_t Report::failed() const {
  return static_cast<std::size_t>(
      std::count_if(pages.begin(), pages.end(), [](const Page& p) { return !p.error.empty(); }));
}

// ---- the summary ----------------------------------------------------------------------------

std::string summary_text(const Report& report, std::string_view strip) {
  auto shown = [strip](const std::string& url) {
    return !strip.empty() && url.rfind(strip, 0) == 0 ? url.substr(strip.size()) : url;
  };
  std::size_t ok = 0, redirected = 0;
  std::vector<std::string> failures, disallowed;
  for (const Page& page : report.pages) {
    if (!page.error.empty()) {
      failures.push_back(fmt::format("failed      {}: {}", shown(page.url), page.error));
    } else if (!page.location.empty()) {
      ++redirected;
    } else {
      ++ok;
    }
  }
  for (const auto& url : report.disallowed) disallowed.push_back("disallowed  " + shown(url));
  std::sort(failures.begin(), failures.end());
  std::sort(disallowed.begin(), disallowed.end());
  std::string text = fmt::format(
      "{} pages: {} ok, {} redirected, {} failed; {} disallowed by robots.txt ({} read); "
      "{} retries; {} found but not fetched{}\n",
      report.pages.size(), ok, redirected, failures.size(), report.disallowed.size(),
      report.robots_fetched, report.retries, report.not_fetched,
      report.interrupted ? "; interrupted" : "");
  for (const auto& line : failures) text += line + "\n";
  for (const auto& line : disallowed) text += line + "\n";
  const double seconds = std::chrono::duration<double>(report.elapsed).count();
  text += fmt::format("took {:.1f}s, {:.1f} pages/s\n", seconds,
                      seconds > 0 ? static_cast<double>(report.pages.size()) / seconds : 0.0);
  return text;
}

std::string summary_json(const Report& report) {
  std::vector<Page> pages = report.pages;
  std::sort(pages.begin(), pages.end(), [](const Page& a, const Page& b) { return a.url < b.url; });
  std::vector<std::string> disallowed = report.disallowed;
  std::sort(disallowed.begin(), disallowed.end());
  std::string json = fmt::format(
      "{{\"pages\": {}, \"failed\": {}, \"disallowed\": {}, \"robots_fetched\": {}, "
      "\"retries\": {}, \"not_fetched\": {}, \"interrupted\": {}, \"seconds\": {:.3f},\n"
      " \"results\": [",
      report.pages.size(), report.failed(), report.disallowed.size(), report.robots_fetched,
      report.retries, report.not_fetched, report.interrupted ? "true" : "false",
      std::chrono::duration<double>(report.elapsed).count());
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const Page& p = pages[i];
    json += fmt::format("{}\n  {{\"url\": {}, \"status\": {}, \"depth\": {}, \"attempts\": {}",
                        i ? "," : "", json_string(p.url), p.status, p.depth, p.attempts);
    if (!p.location.empty()) json += ", \"location\": " + json_string(p.location);
    if (!p.error.empty()) json += ", \"error\": " + json_string(p.error);
    json += "}";
  }
  json += "],\n \"disallowed_urls\": [";
  for (std::size_t i = 0; i < disallowed.size(); ++i)
    json += (i ? ", " : "") + json_string(disallowed[i]);
  return json + "]}\n";
}

std::string progress_line(const Progress& p) {
  return fmt::format("pages {} done, {} queued, {} in flight, {} failed, {:.1f}/s", p.done,
                     p.queued, p.in_flight, p.failed, p.rate);
}

// ---- the test site --------------------------------------------------------------------------

struct TestSite::State {
  Options options;
  std::uint16_t port = 0;
  std::map<std::string, int> requests, busy_answers;
  std::vector<Clock::time_point> arrivals;
  std::vector<std::string> arrival_targets;  // arrivals[i] was a request for this
  int in_flight = 0, max_in_flight = 0;
  std::set<std::string> hosts;
  std::function<void(int)> on_request;
};

namespace {

struct Link {
  std::string target;   // what a correct crawler requests
  std::string written;  // how the page spells it
};

std::string page_path(int i) { return fmt::format("/s/{}/{}.html", i % 10, i); }

bool site_allows(const std::string& target) {
  return target.rfind("/private/", 0) != 0 || target == "/private/open.html";
}

// The links of a page of the site ("/" and page i), or of a leaf page (back to "/").
std::vector<Link> links_of(const TestSite::Options& o, std::uint16_t port, const std::string& target) {
  if (target == "/") {
    std::vector<Link> links{{page_path(0), "s/0/0.html"}};
    if (o.other_host) links.push_back({"", fmt::format("http://localhost:{}{}", port, page_path(0))});
    return links;
  }
  int i = -1;
  if (std::sscanf(target.c_str(), "/s/%*d/%d.html", &i) != 1) {
    if (target.rfind("/missing/", 0) == 0 || target.rfind("/redirect/", 0) == 0) return {};
    return {{"/", "../"}};  // a leaf page
  }
  std::vector<Link> links;
  int k = 0;
  auto spell = [&](int j) {  // five spellings of the same link, in turn
    const std::string folder = std::to_string(j % 10), file = std::to_string(j) + ".html";
    switch ((i + k++) % 5) {
      case 0: return page_path(j);
      case 1: return "../" + folder + "/" + file;
      case 2: return fmt::format("http://127.0.0.1:{}{}", port, page_path(j));
      case 3: return "../" + folder + "/" + file + "#part-" + std::to_string(k);
      default: return "./.././../s/" + folder + "/./" + file;
    }
  };
  for (int j : {2 * i + 1, 2 * i + 2})
    if (j < o.pages) links.push_back({page_path(j), spell(j)});
  links.push_back({page_path(i / 2), spell(i / 2)});
  links.push_back({"/", "../../"});
  if (i % 10 == 3 && 2 * i + 1 < o.pages) links.push_back({fmt::format("/redirect/{}", i), fmt::format("/redirect/{}", i)});
  if (i % 10 == 4) links.push_back({fmt::format("/missing/{}.html", i), fmt::format("../../missing/{}.html", i)});
  if (i % 10 == 5) links.push_back({fmt::format("/private/{}.html", i), fmt::format("/private/{}.html", i)});
  if (i == 5) links.push_back({"/private/open.html", "/private/open.html"});
  if (i % 10 == 6 && o.slow.count() > 0) links.push_back({fmt::format("/slow/{}.html", i), fmt::format("/slow/{}.html", i)});
  if (i % 10 == 7 && o.busy) links.push_back({fmt::format("/busy/{}.html", i), fmt::format("/busy/{}.html", i)});
  if (i % 25 == 0) links.push_back({fmt::format("/search?q=a&page={}", i), fmt::format("/search?q=a&amp;page={}", i)});
  return links;
}

const char* const robots_txt =
    "# the test site's rules\n"
    "User-agent: evilbot\n"
    "Disallow: /\n"
    "\n"
    "User-agent: *\n"
    "Disallow: /private/\n"
    "Allow: /private/open.html\n";

// What the site answers to `target`: the whole response, and how long to wait before it.
std::pair<std::string, milliseconds> answer(TestSite::State& s, const std::string& target) {
  using lesson025::canned_response;
  if (target == "/robots.txt") return {canned_response(200, "OK", robots_txt, "Content-Type: text/plain\r\n"), {}};
  int i = -1;
  if (std::sscanf(target.c_str(), "/redirect/%d", &i) == 1) {
    const int j = 2 * i + 1;
    return {canned_response(302, "Found", "", fmt::format("Location: ../s/{}/{}.html\r\n", j % 10, j)), {}};
  }
  if (target.rfind("/missing/", 0) == 0 || !site_allows(target)) return {canned_response(404, "Not Found", "no such page"), {}};
  if (target.rfind("/busy/", 0) == 0) {
    const int seen = ++s.busy_answers[target];
    if (seen == 1) return {canned_response(429, "Too Many Requests", "slow down", "Retry-After: 1\r\n"), {}};
    if (seen == 2) return {canned_response(503, "Service Unavailable", "busy"), {}};
  }
  const bool known = target == "/" || target.rfind("/s/", 0) == 0 || target.rfind("/busy/", 0) == 0 ||
                     target.rfind("/slow/", 0) == 0 || target.rfind("/search?", 0) == 0 ||
                     target == "/private/open.html";
  if (!known) return {canned_response(404, "Not Found", "no such page"), {}};
  std::string body = "<!DOCTYPE html>\n<html><head><title>" + target + "</title></head><body>\n";
  if (target == "/")
    body += "<p><a href=\"#top\">top</a> <a href=\"\">this page</a> "
            "<a href=\"mailto:someone@example.com\">mail</a> <a href='javascript:void(0)'>js</a>\n"
            "<!-- <a href=\"/commented-out.html\">not a link</a> -->\n";
  for (const Link& link : links_of(s.options, s.port, target))
    body += "<p><a class=\"link\" href=\"" + link.written + "\">" + link.target + "</a>\n";
  body += "</body></html>\n";
  const milliseconds delay = target.rfind("/slow/", 0) == 0 ? s.options.slow : milliseconds{};
  return {canned_response(200, "OK", body, "Content-Type: text/html; charset=utf-8\r\n"), delay};
}

asio::awaitable<bool> serve(std::shared_ptr<TestSite::State> s, lesson025::TinyServer::Request request,
                            asio::ip::tcp::socket& socket) {
  s->arrivals.push_back(Clock::now());
  s->arrival_targets.push_back(request.target);
  const int total = static_cast<int>(s->arrivals.size());
  ++s->requests[request.target];
  const std::string head = lower(request.head);
  if (const auto at = head.find("\r\nhost:"); at != std::string::npos)
    s->hosts.insert(std::string(trim(head.substr(at + 7, head.find("\r\n", at + 2) - at - 7))));
  s->max_in_flight = std::max(s->max_in_flight, ++s->in_flight);
  if (s->on_request) s->on_request(total);
  auto [response, delay] = answer(*s, request.target);
  if (delay.count() > 0) {
    asio::steady_timer timer(socket.get_executor(), delay);
    co_await timer.async_wait(compat::as_tuple(asio::use_awaitable));
  }
  --s->in_flight;  // before the write: the client cannot have the answer and still count it
  auto writing = asio::async_write(socket, asio::buffer(response), compat::as_tuple(asio::use_awaitable));
  auto [error, n] = co_await std::move(writing);
  co_return !error;
}

}  // namespace

TestSite::TestSite(asio::any_io_executor executor, Options options)
    : state_(std::make_shared<State>()) {
  state_->options = options;
  auto handler = [state = state_](lesson025::TinyServer::Request request, asio::ip::tcp::socket& socket) {
    return serve(state, std::move(request), socket);
  };
  server_ = std::make_unique<lesson025::TinyServer>(std::move(executor), handler, options.port);
  state_->port = server_->port();
}

TestSite::~TestSite() = default;  // ~TinyServer stops accepting

std::string TestSite::url(std::string_view target) const { return server_->url(target); }

std::map<std::string, int> TestSite::expected(int max_depth) const {
  std::map<std::string, int> depth_of{{"/", 0}};
  std::deque<std::string> next{"/"};
  while (!next.empty()) {  // breadth first; a redirect's target is no step deeper
    const std::string target = next.front();
    next.pop_front();
    const int depth = depth_of[target];
    std::vector<std::pair<std::string, int>> found;
    int i = -1;
    if (std::sscanf(target.c_str(), "/redirect/%d", &i) == 1) found.push_back({page_path(2 * i + 1), depth});
    for (const Link& link : links_of(state_->options, state_->port, target))
      if (!link.target.empty()) found.push_back({link.target, depth + 1});
    for (const auto& [t, d] : found) {
      if (d > max_depth || !site_allows(t) || depth_of.count(t)) continue;
      depth_of[t] = d;
      if (d == depth) next.push_front(t); else next.push_back(t);
    }
  }
  std::map<std::string, int> expected{{"/robots.txt", 1}};
  for (const auto& [target, depth] : depth_of) expected[target] = target.rfind("/busy/", 0) == 0 ? 3 : 1;
  return expected;
}

std::set<std::string> TestSite::disallowed_linked() const {
  std::set<std::string> out;
  for (const auto& [target, count] : expected())
    for (const Link& link : links_of(state_->options, state_->port, target))
      if (!link.target.empty() && !site_allows(link.target)) out.insert(link.target);
  return out;
}

std::map<std::string, int> TestSite::requests() const { return state_->requests; }
std::vector<Clock::time_point> TestSite::arrivals(std::string_view target) const {
  if (target.empty()) return state_->arrivals;
  std::vector<Clock::time_point> out;
  for (std::size_t i = 0; i < state_->arrivals.size(); ++i)
    if (state_->arrival_targets[i] == target) out.push_back(state_->arrivals[i]);
  return out;
}
int TestSite::max_in_flight() const { return state_->max_in_flight; }
std::set<std::string> TestSite::hosts() const { return state_->hosts; }
void TestSite::on_request(std::function<void(int)> callback) { state_->on_request = std::move(callback); }

int TestSite::max_in_window(Clock::duration window) const {
  std::map<long long, int> counts;
  int most = 0;
  for (const auto& t : state_->arrivals)
    most = std::max(most, ++counts[(t - state_->arrivals.front()) / window]);
  return most;
}

}  // namespace lesson030
