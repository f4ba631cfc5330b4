// How it is built: retry()'s input check, and the demo's flaky service and its client, fetch()
// (declared in resilience_how_it_is_built.hpp). You can skip this file at this lesson: the
// service is lesson 012's streams with a made-up, HTTP/1.0-shaped protocol, one request per
// connection:
//   client: "GET /price HTTP/1.0\r\n\r\n"
//   server: "HTTP/1.0 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n" (or "... 200 OK\r\n\r\n"
//           and the body), then it closes the connection, which ends the body.
#include "resilience_how_it_is_built.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>

#include <asio/co_spawn.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson027 {

using asio::ip::tcp;

namespace {

std::string reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

void check(RetryPolicy& policy) {
  auto refuse = [](const char* what) { throw std::invalid_argument(std::string("retry: ") + what); };
  if (policy.max_attempts < 1) refuse("max_attempts must be >= 1");
  if (policy.base <= milliseconds::zero()) refuse("base must be > 0");
  if (policy.cap < policy.base) refuse("cap must be >= base");
  if (policy.deadline && *policy.deadline <= milliseconds::zero()) refuse("deadline must be > 0");
  if (!policy.judge) refuse("judge must not be empty");
  if (!policy.random) policy.random = seeded_random(std::random_device{}());
}

FlakyService::FlakyService(asio::any_io_executor executor)
    : acceptor_(std::move(executor), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

void FlakyService::script(std::vector<std::string> replies, std::string then) {
  script_.assign(replies.begin(), replies.end());
  then_ = std::move(then);
  requests_ = 0;
}

asio::awaitable<void> FlakyService::serve() {
  for (;;) {
    auto accepted = co_await acceptor_.async_accept(compat::as_tuple(asio::use_awaitable));
    auto error = std::get<0>(accepted);
    if (error == asio::error::operation_aborted) co_return;  // stop() closed the acceptor
    if (error) throw std::system_error(error);
    asio::co_spawn(acceptor_.get_executor(), answer(std::move(std::get<1>(accepted))),
                   tut::rethrow);
  }
}

asio::awaitable<void> FlakyService::answer(tcp::socket socket) {
  std::string request;
  auto received = co_await asio::async_read_until(socket, asio::dynamic_buffer(request),
                                                  "\r\n\r\n", compat::as_tuple(asio::use_awaitable));
  if (std::get<0>(received)) co_return;  // the client went away before asking
  ++requests_;
  std::string reply = then_;
  if (!script_.empty()) {
    reply = script_.front();
    script_.pop_front();
  }
  const std::string asked = request.substr(0, request.find(" HTTP/"));  // "GET /price"
  if (reply == "hang") {
    tut::log("service", "{} -> (no answer)", asked);
    char byte;  // wait until the client hangs up (eof) or the service is torn down
    co_await socket.async_read_some(asio::buffer(&byte, 1), compat::as_tuple(asio::use_awaitable));
    co_return;
  }
  const int status = std::atoi(reply.c_str());
  const std::string rest = reply.size() > 4 ? reply.substr(4) : "";
  // "200 <body>", or "<status>" with an optional "<Retry-After seconds>"
  const std::string retry_after = status != 200 && !rest.empty() ? "Retry-After: " + rest : "";
  tut::log("service", "{} -> {} {}{}", asked, status, reason_of(status),
           retry_after.empty() ? "" : ", " + retry_after);
  std::string response = fmt::format("HTTP/1.0 {} {}\r\n", status, reason_of(status));
  if (!retry_after.empty()) response += retry_after + "\r\n";
  response += "\r\n" + (status == 200 ? rest : "");
  co_await asio::async_write(socket, asio::buffer(response), compat::as_tuple(asio::use_awaitable));
  // Closing the socket (here, at the end of the scope) ends the body, as in HTTP/1.0.
}

asio::awaitable<std::string> fetch(tcp::endpoint where, std::string path) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(where, asio::use_awaitable);
  const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string response;  // everything until the server closes the connection
  auto read = co_await asio::async_read(socket, asio::dynamic_buffer(response),
                                        compat::as_tuple(asio::use_awaitable));
  if (std::get<0>(read) != asio::error::eof) throw std::system_error(std::get<0>(read));

  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.compare(0, 9, "HTTP/1.0 ") != 0)
    throw std::system_error(asio::error::eof);  // closed before a whole reply came
  const std::string head = response.substr(0, head_end);
  const int status = std::atoi(head.c_str() + 9);
  if (status == 200) co_return response.substr(head_end + 4);
  const auto line_end = std::min(head.find("\r\n"), head.size());
  const std::string reason = line_end > 13 ? head.substr(13, line_end - 13) : "";
  std::optional<milliseconds> retry_after;
  const auto header = head.find("\r\nRetry-After: ");
  if (header != std::string::npos)
    retry_after = std::chrono::seconds(std::atoi(head.c_str() + header + 15));
  throw ServiceError(status, reason, retry_after);
}

}  // namespace lesson027
