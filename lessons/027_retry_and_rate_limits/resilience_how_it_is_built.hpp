// How it is built: lesson 027's machinery: retry()'s input check, and the demo's flaky service
// with its client, fetch(), a tiny HTTP/1.0-shaped protocol over TCP on 127.0.0.1. You can skip
// this file at this lesson: main.cpp shows the service at work; streams are taught in lesson
// 012. (Not named how_it_is_built.hpp: lesson 014's file of that name is on the include path.)
#pragma once

#include <deque>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "resilience.hpp"

namespace lesson027 {

/// retry()'s input check: throws std::invalid_argument naming the field for max_attempts < 1,
/// base <= 0, cap < base, deadline <= 0 or an empty judge; an empty random becomes
/// seeded_random() from std::random_device.
void check(RetryPolicy& policy);

/// The demo's flaky service, in the same process: an HTTP/1.0-shaped server on 127.0.0.1 (port
/// 0) that answers each request (one per connection) with the next reply of its script and logs
/// it. Use it from one thread; it must outlive serve().
class FlakyService {
 public:
  explicit FlakyService(asio::any_io_executor executor);
  asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

  /// The replies to play, one per request: "503", "404", "429 1" (with Retry-After: 1, in
  /// seconds as HTTP says), "200 <body>", or "hang" (never answers; waits until the client
  /// hangs up). Once they are used up, every request gets `then`. Sets requests() to 0.
  void script(std::vector<std::string> replies, std::string then = "200 42.17");
  /// Accepts and answers until stop(); each connection is a task of its own.
  asio::awaitable<void> serve();
  void stop() { acceptor_.close(); }
  int requests() const { return requests_; }  // received since the last script()

 private:
  asio::awaitable<void> answer(asio::ip::tcp::socket socket);

  asio::ip::tcp::acceptor acceptor_;
  std::deque<std::string> script_;
  std::string then_ = "200 42.17";
  int requests_ = 0;
};

/// The client: GET `path` from `where` on a new connection (HTTP/1.0: the server closes it after
/// the reply). Returns the body of a 200; throws ServiceError for another status (with the
/// Retry-After header, delta-seconds only), or the socket's std::system_error (eof if the
/// connection closes before a reply).
asio::awaitable<std::string> fetch(asio::ip::tcp::endpoint where, std::string path);

}  // namespace lesson027
