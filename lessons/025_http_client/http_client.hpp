// Lesson 025: an HTTP/1.1 client over streams, aiohttp's ClientSession, written by hand.
//
//   aiohttp                                            C++ (this header)
//   async with aiohttp.ClientSession() as s:           Client client(executor);  (closes its
//                                                        pooled connections when destroyed)
//   async with s.get(url) as r: await r.read()         Response r = co_await client.get(url);
//   s.post(url, data=b, headers={...})                 client.post(url, body, "text/plain")
//   s.head(url)                                        Request head{"HEAD", url};
//                                                      co_await client.request(head);
//   ClientTimeout(total, sock_connect, sock_read)      Options::total / connect / first_byte
//   TCPConnector's keep-alive pool                     the per-origin pool in Client, keeping at
//                                                        most Options::max_idle_per_host idle
//   max_redirects=10, TooManyRedirects                 Options::max_redirects, HttpError
//   s.get(url, allow_redirects=False)                  Request::allow_redirects = false
//   ssl.create_default_context() (verify + hostname)   Options::ca_file (the system's CAs if
//                                                        empty); verification is always on
//   gather(*(s.get(u) for u in urls)) + Semaphore(n)   fetch_all(client, urls, n)
//
// One request, the flow http_client.cpp teaches:
//   1. take an idle keep-alive connection to (scheme, host, port) from the pool, or open one
//      (TCP connect, then for https a TLS handshake that checks the certificate and the name);
//   2. write the request line and headers (and the body for POST);
//   3. read the status line and headers, then the body: Content-Length bytes, or chunks
//      (Transfer-Encoding: chunked), or until the server closes;
//   4. if both sides said keep-alive and the body was read to its end, give the connection
//      back to the pool; a 3xx with Location: go again (at most max_redirects times).
// The bytes on the wire, parsing, chunked decoding, TLS set-up and the limits are in
// http_how_it_is_built.hpp: a learner may skip it.
//
// Where C++ differs from aiohttp, and why:
// - The response arrives whole (body in a std::string, bounded by Options::limits), where
//   aiohttp hands a streaming reader to `async with`: no async destructor to release the
//   connection of a half-read body (lesson 021), so this client reads to the end first.
// - A pooled connection the server closed meanwhile is only noticed when used: a GET or HEAD
//   that fails before any response byte on a *reused* connection is sent once more on a new
//   one, as Go's net/http does; a POST is not, since the server may have acted on it.
//   (aiohttp 3.8, Debian 12's, raises ServerDisconnectedError instead.)
// - Errors are one type, HttpError (HttpTimeout for the three timeouts), with a message that
//   says what happened; aiohttp has a tree of ClientError classes.
// - Use a Client from one thread (one io_context, or a strand), as a session belongs to one loop.
// - g++ 12: name every string, Request and Options before the co_await that uses it
//   (`co_await client.get(base + "/x")` crashed this lesson's tests; see writing-a-lesson.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "http_how_it_is_built.hpp"  // Url, Headers, HttpError, HttpTimeout, Connection, limits

namespace lesson025 {

using std::chrono::milliseconds;

struct Options {
  milliseconds connect{10'000};     ///< TCP connect and TLS handshake
  milliseconds first_byte{30'000};  ///< request sent -> status line and headers received
  milliseconds total{60'000};       ///< the whole request, redirects included
  int max_redirects = 10;
  std::size_t max_idle_per_host = 8;  ///< keep-alive connections kept per (scheme, host, port)
  Limits limits;                      ///< header and body sizes (http_how_it_is_built.hpp)
  std::string ca_file;  ///< PEM file of trusted CAs for https; empty: the system's
};

struct Request {
  std::string method = "GET";
  std::string url;
  std::string body = {};  ///< sent with Content-Length when not empty (or method is POST)
  Headers headers = {};   ///< extra request headers
  /// aiohttp's allow_redirects: false returns a 3xx as it is (a crawler follows it itself,
  /// so that each hop passes its rate limit and its robots.txt check).
  bool allow_redirects = true;
};

struct Response {
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;
  std::string url;    ///< the final URL, after redirects
  int redirects = 0;  ///< how many were followed
};

/// aiohttp.ClientSession: requests with keep-alive connection reuse. Destroying it closes the
/// idle connections; it must outlive every request it started.
class Client {
 public:
  explicit Client(asio::any_io_executor executor, Options options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends `request`, follows redirects, returns the final response (any status: a 404 is a
  /// response, not an error). Throws HttpError (bad URL, connect or TLS failure, malformed or
  /// oversized response, too many redirects) or HttpTimeout.
  asio::awaitable<Response> request(Request request);
  asio::awaitable<Response> get(std::string url);
  /// (No default for content_type: g++ 12 mishandles a defaulted std::string argument in a
  /// co_await expression.)
  asio::awaitable<Response> post(std::string url, std::string body, std::string content_type);

  struct Stats {
    std::size_t opened = 0;   ///< connections opened (TCP, plus TLS for https)
    std::size_t reused = 0;   ///< requests sent on a pooled keep-alive connection
    std::size_t idle = 0;     ///< connections waiting in the pool now
  };
  Stats stats() const;

 private:
  asio::awaitable<void> send_once(const Request* request, time_point deadline, Response* out);
  asio::awaitable<void> exchange(Connection* connection, const Request* request, const Url* url,
                                 time_point deadline, Response* out);
  std::unique_ptr<Connection> take_idle(const std::string& origin);
  asio::awaitable<std::unique_ptr<Connection>> open_connection(Url url, time_point deadline);
  void give_back(const std::string& origin, std::unique_ptr<Connection> connection);

  asio::any_io_executor executor_;
  Options options_;
  std::unique_ptr<TlsContext> tls_;  // made on the first https request
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;  // by Url::origin()
  Stats stats_;
};

/// One result of fetch_all(): the response, or the error that ended that request alone.
struct Fetched {
  std::string url;
  std::optional<Response> response;
  std::string error;  ///< empty when response is set
};

/// asyncio.gather over the urls with a lesson 009 Semaphore(limit): at most `limit` requests
/// at a time; results in the order of `urls`. One request's failure does not end the others.
asio::awaitable<std::vector<Fetched>> fetch_all(Client* client, std::vector<std::string> urls,
                                                int limit);

}  // namespace lesson025
