// Lesson 025: the request flow and the keep-alive pool (the parsing is in
// http_how_it_is_built.cpp). Read http_client.hpp first.
#include "http_client.hpp"

#include <fmt/core.h>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "semaphore.hpp"  // lesson 009
#include "timeouts.hpp"   // lesson 014: Deadline, with_timeout, TimeoutError

namespace lesson025 {

Client::Client(asio::any_io_executor executor, Options options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

Client::~Client() = default;  // the idle connections close with their sockets

asio::awaitable<Response> Client::get(std::string url) {
  Request request{"GET", std::move(url)};
  co_return co_await this->request(std::move(request));
}

asio::awaitable<Response> Client::post(std::string url, std::string body, std::string content_type) {
  Request request{"POST", std::move(url), std::move(body), {{"Content-Type", content_type}}};
  co_return co_await this->request(std::move(request));
}

// The whole request, redirects included, runs under ONE lesson 014 Deadline (Options::total);
// the connect and first-byte timeouts are shorter deadlines nested inside it.
asio::awaitable<Response> Client::request(Request request) {
  lesson014::Deadline deadline(executor_, lesson014::clock::now() + options_.total);
  try {
    auto following = follow_redirects(std::move(request));
    co_return co_await deadline.run(std::move(following));
  } catch (const lesson014::TimeoutError&) {
    throw HttpTimeout(fmt::format("the request took longer than {} (Options::total)",
                                  tut::seconds(options_.total)));
  }
}

asio::awaitable<Response> Client::follow_redirects(Request request) {
  for (int redirects = 0;; ++redirects) {
    Response response = co_await send_once(request);
    response.redirects = redirects;
    const auto location = find_header(response.headers, "Location");
    const int status = response.status;
    const bool redirect = request.allow_redirects && location && (status == 301 || status == 302 || status == 303 ||
                                       status == 307 || status == 308);
    if (!redirect) co_return response;
    if (redirects == options_.max_redirects)
      throw HttpError(fmt::format("too many redirects: more than {}, the last to {}",
                                  options_.max_redirects, Url::parse(request.url).resolve(*location).to_string()));
    request.url = Url::parse(request.url).resolve(*location).to_string();
    // 303, and 301/302 after a POST, turn into a GET without a body (what browsers and
    // aiohttp do); 307 and 308 repeat the same method and body.
    if (status == 303 || ((status == 301 || status == 302) && request.method == "POST")) {
      request.method = "GET";
      request.body.clear();
    }
  }
}

// One request and its response on one connection, without redirects.
asio::awaitable<Response> Client::send_once(Request request) {
  const Url url = Url::parse(request.url);
  for (int attempt = 1;; ++attempt) {
    bool reused = false;
    std::unique_ptr<Connection> connection = co_await take_connection(url, &reused);
    try {
      Response response = co_await exchange(connection.get(), request, url);
      if (connection->reusable()) give_back(url, std::move(connection));
      co_return response;
    } catch (const lesson014::TimeoutError&) {
      throw HttpTimeout(fmt::format("no response from {} within {} (Options::first_byte)",
                                    url.origin(), tut::seconds(options_.first_byte)));
    } catch (const HttpError&) {
      // A pooled connection the server closed while it sat idle fails before any byte of a
      // response: send a GET or HEAD once more, on a new connection. Not a POST: the server
      // may have acted on it before closing.
      const bool idempotent = request.method == "GET" || request.method == "HEAD";
      if (!reused || connection->received_anything() || !idempotent || attempt > 1) throw;
      idle_.erase(url.origin());  // its idle siblings are likely dead too: the retry opens anew
    }
  }
}

// Writes the request, reads the response head (within Options::first_byte), then the body.
asio::awaitable<Response> Client::exchange(Connection* connection, Request request, Url url) {
  connection->start_request();
  std::string bytes = format_request(request.method, url, request.headers, request.body);
  co_await connection->write(std::move(bytes));
  auto reading_head = connection->read_head(options_.limits);
  ResponseHead head = co_await lesson014::with_timeout(std::move(reading_head), options_.first_byte);
  Response response{head.status, head.reason, head.headers, {}, url.to_string(), 0};
  response.body = co_await connection->read_body(std::move(head), request.method, options_.limits);
  co_return response;
}

// ---- the pool: idle keep-alive connections by origin ----------------------------------------

asio::awaitable<std::unique_ptr<Connection>> Client::take_connection(Url url, bool* reused) {
  auto& idle = idle_[url.origin()];
  if (!idle.empty()) {  // the most recently returned: the least likely to have been closed
    auto connection = std::move(idle.back());
    idle.pop_back();
    *reused = true;
    ++stats_.reused;
    co_return connection;
  }
  if (url.scheme == "https" && !tls_) tls_ = std::make_unique<TlsContext>(options_.ca_file);
  try {
    auto opening = Connection::open(url, tls_.get());
    auto connection = co_await lesson014::with_timeout(std::move(opening), options_.connect);
    ++stats_.opened;
    co_return connection;
  } catch (const lesson014::TimeoutError&) {
    throw HttpTimeout(fmt::format("connecting to {} took longer than {} (Options::connect)",
                                  url.origin(), tut::seconds(options_.connect)));
  }
}

void Client::give_back(const Url& url, std::unique_ptr<Connection> connection) {
  auto& idle = idle_[url.origin()];
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
    auto response = co_await client->get(out->url);
    out->response = std::move(response);
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
