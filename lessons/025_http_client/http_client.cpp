// Lesson 025: the request flow and the keep-alive pool (the parsing is in
// http_how_it_is_built.cpp). Read http_client.hpp first.
#include "http_client.hpp"

#include <algorithm>

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "semaphore.hpp"  // lesson 009
#include "timeouts.hpp"   // lesson 014: Watchdog, timeout_at, TimeoutError

namespace lesson025 {

Client::Client(asio::any_io_executor executor, Options options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

Client::~Client() = default;  // the idle connections close with their sockets

// Not coroutines: they return request()'s awaitable, whose frame holds the Request.
asio::awaitable<Response> Client::get(std::string url) { return request(Request{"GET", std::move(url)}); }

asio::awaitable<Response> Client::post(std::string url, std::string body, std::string content_type) {
  return request(Request{"POST", std::move(url), std::move(body), {{"Content-Type", content_type}}});
}

// The whole request, redirects included, must end by ONE deadline (Options::total). The
// connect and first-byte timeouts are shorter deadlines inside it. All are lesson 014's: the
// connect runs under timeout_at(), and each connection has a Watchdog, re-armed per request
// (a Deadline::run per request costs two coroutines and a parallel group: docs/performance.md).
asio::awaitable<Response> Client::request(Request request) {
  const time_point deadline = lesson014::clock::now() + options_.total;
  Response response;
  for (int redirects = 0;; ++redirects) {
    co_await send_once(&request, deadline, &response);
    response.redirects = redirects;
    const auto location = find_header(response.headers, "Location");
    const int status = response.status;
    if (!request.allow_redirects || !location || !is_redirect(status)) co_return response;
    request.url = Url::parse(request.url).resolve(*location).to_string();
    if (redirects == options_.max_redirects)
      throw HttpError(fmt::format("too many redirects: more than {}, the last to {}",
                                  options_.max_redirects, request.url));
    // 303, and 301/302 after a POST, turn into a GET without a body (what browsers and
    // aiohttp do); 307 and 308 repeat the same method and body.
    if (status == 303 || ((status == 301 || status == 302) && request.method == "POST")) {
      request.method = "GET";
      request.body.clear();
    }
  }
}

// One request and its response on one connection, without redirects, into *out.
asio::awaitable<void> Client::send_once(const Request* request, time_point deadline, Response* out) {
  const Url url = Url::parse(request->url);
  const std::string origin = url.origin();
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<Connection> connection = take_idle(origin);
    const bool reused = connection != nullptr;
    if (!reused) connection = co_await open_connection(url, deadline);
    try {
      co_await exchange(connection.get(), request, &url, deadline, out);
      if (connection->reusable()) give_back(origin, std::move(connection));
      co_return;
    } catch (const HttpTimeout&) {
      throw;  // never sent again
    } catch (const HttpError&) {
      // A pooled connection the server closed while it sat idle fails before any byte of a
      // response: send a GET or HEAD once more, on a new connection. Not a POST: the server
      // may have acted on it before closing.
      const bool idempotent = request->method == "GET" || request->method == "HEAD";
      if (!reused || connection->received_anything() || !idempotent || attempt > 1) throw;
      idle_.erase(origin);  // its idle siblings are likely dead too: the retry opens anew
    }
  }
}

// Writes the request, reads the response head (within Options::first_byte), then the body;
// the connection's watchdog closes it if `deadline` or the first-byte one passes.
asio::awaitable<void> Client::exchange(Connection* connection, const Request* request, const Url* url,
                                       time_point deadline, Response* out) {
  lesson014::Watchdog& watchdog = connection->watchdog();
  connection->start_request();
  format_request_into(&connection->outgoing(), request->method, *url, request->headers, request->body);
  ResponseHead head;
  std::string body;
  time_point head_by = deadline;  // the first-byte deadline while the head is awaited
  auto cancellation = co_await asio::this_coro::cancellation_state;  // the caller's
  try {
    watchdog.arm(deadline);
    co_await connection->write();
    head_by = std::min(deadline, lesson014::clock::now() + options_.first_byte);
    watchdog.arm(head_by);
    co_await connection->read_head(&head, options_.limits);
    watchdog.arm(head_by = deadline);
    body = co_await connection->read_body(&head, request->method == "HEAD", options_.limits);
  } catch (...) {
    watchdog.disarm();
    // Not a timeout, or the caller cancelled too in the same turn: it wins (as in lesson 014).
    if (!watchdog.expired() || cancellation.cancelled() != asio::cancellation_type::none) throw;
    if (head_by < deadline) throw timed_out("first_byte", *url, options_.first_byte);
    throw timed_out("total", *url, options_.total);
  }
  watchdog.disarm();
  *out = Response{head.status, std::move(head.reason), std::move(head.headers), std::move(body),
                  url->to_string(), 0};
}

// ---- the pool: idle keep-alive connections by origin ----------------------------------------

std::unique_ptr<Connection> Client::take_idle(const std::string& origin) {
  auto& idle = idle_[origin];
  if (idle.empty()) return nullptr;
  auto connection = std::move(idle.back());  // the most recently returned: the least likely closed
  idle.pop_back();
  ++stats_.reused;
  return connection;
}

asio::awaitable<std::unique_ptr<Connection>> Client::open_connection(Url url, time_point deadline) {
  if (url.scheme == "https" && !tls_) tls_ = std::make_unique<TlsContext>(options_.ca_file);
  const time_point connect_by = std::min(deadline, lesson014::clock::now() + options_.connect);
  try {
    auto opening = Connection::open(url, tls_.get());
    auto connection = co_await lesson014::timeout_at(connect_by, std::move(opening));
    ++stats_.opened;
    co_return connection;
  } catch (const lesson014::TimeoutError&) {
    if (connect_by == deadline) throw timed_out("total", url, options_.total);
    throw timed_out("connect", url, options_.connect);
  }
}

void Client::give_back(const std::string& origin, std::unique_ptr<Connection> connection) {
  auto& idle = idle_[origin];
  if (idle.size() < options_.max_idle_per_host) idle.push_back(std::move(connection));
  // else: dropped here, which closes it
}

Client::Stats Client::stats() const {
  Stats stats = stats_;
  stats.idle = 0;
  for (const auto& [origin, connections] : idle_) stats.idle += connections.size();
  return stats;
}

// ---- concurrent fetches with a limit --------------------------------------------------------

namespace {

asio::awaitable<void> fetch_one(Client* client, lesson009::Semaphore* semaphore, Fetched* out) {
  auto permit = co_await semaphore->acquire();  // at most `limit` requests at a time
  try {
    out->response = co_await client->get(out->url);
  } catch (const std::exception& e) {
    out->error = e.what();  // this request's failure, recorded; the others go on
  }
}

}  // namespace

asio::awaitable<std::vector<Fetched>> fetch_all(Client* client, std::vector<std::string> urls,
                                                int limit) {
  auto executor = co_await asio::this_coro::executor;
  lesson009::Semaphore semaphore(executor, limit);
  std::vector<Fetched> results(urls.size());
  std::size_t left = urls.size();
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    results[i].url = urls[i];
    auto one = fetch_one(client, &semaphore, &results[i]);
    asio::co_spawn(executor, std::move(one), [&](std::exception_ptr error) {
      if (error) std::rethrow_exception(error);  // fetch_one catches request errors: a bug
      if (--left == 0) all_done.cancel();
    });
  }
  if (left > 0) co_await all_done.async_wait(compat::as_tuple(asio::use_awaitable));
  co_return results;
}

}  // namespace lesson025
