// How it is built: the machinery under lesson 025's Client. A learner can skip this file at
// this lesson: http_client.hpp says what a request does and http_client.cpp shows the flow.
// It holds
// - Url: "http(s)://host[:port]/path?query" split into its parts, and Location resolution;
// - Connection: one TCP (or TLS) stream with the bytes received but not yet parsed, and the
//   HTTP/1.1 reading rules: the status line and headers, then a body by Content-Length, by
//   chunks or until the server closes, each under Limits (a hostile server cannot make it
//   allocate more than those);
// - TlsContext: asio::ssl on OpenSSL with certificate verification, the host-name check and
//   SNI (http_how_it_is_built.cpp: the only file that includes asio/ssl.hpp);
// - TinyServer: a minimal keep-alive HTTP/1.1 server for the demo, the tests and the benchmark.
// Reading into a buffer of your own and parsing from it is lesson 012's stream idea; the
// timeouts around these calls are lesson 014's, applied in http_client.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "timeouts.hpp"  // lesson 014: Watchdog

namespace lesson025 {

using time_point = lesson014::clock::time_point;  // of a deadline

/// Header fields in the order received (names as sent; find_header() ignores case).
using Headers = std::vector<std::pair<std::string, std::string>>;
std::optional<std::string> find_header(const Headers& headers, std::string_view name);
/// 301, 302, 303, 307 and 308: the statuses whose Location a client follows.
bool is_redirect(int status);

/// What went wrong with one request, in words (aiohttp's ClientError family in one type).
class HttpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// A timeout (aiohttp: asyncio.TimeoutError / ServerTimeoutError); which one is in what().
class HttpTimeout : public HttpError {
 public:
  using HttpError::HttpError;
};

/// How much a response may make the client hold. Over a limit: HttpError, nothing more read.
struct Limits {
  std::size_t max_line = 8 * 1024;            ///< status line, a header line, a chunk-size line
  std::size_t max_header_bytes = 64 * 1024;   ///< all header lines together
  std::size_t max_headers = 100;              ///< header fields
  std::size_t max_body = 16 * 1024 * 1024;    ///< the decoded body
};

struct Url {
  std::string scheme;  ///< "http" or "https"
  std::string host;
  std::uint16_t port = 0;
  std::string target = "/";  ///< path and query, as sent in the request line

  /// Throws HttpError for anything but http:// or https:// with a host.
  static Url parse(std::string_view text);
  /// "scheme://host:port": the pool's key.
  std::string origin() const;
  bool default_port() const { return port == (scheme == "https" ? 443 : 80); }
  std::string to_string() const;
  /// The URL a Location header points to, seen from this one.
  Url resolve(std::string_view location) const;
};

/// The error of one of Options' timeouts ("connect", "first_byte" or "total"), in words.
HttpTimeout timed_out(std::string_view which, const Url& url, std::chrono::milliseconds limit);

/// The status line and headers of a response.
struct ResponseHead {
  int minor_version = 1;  ///< HTTP/1.<minor>
  int status = 0;
  std::string reason;
  Headers headers;
};

/// Verification settings for https: the trusted CAs (a PEM file, or the system's), with peer
/// verification on. One per Client, shared by its TLS connections.
class TlsContext {
 public:
  explicit TlsContext(const std::string& ca_file);
  ~TlsContext();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// One HTTP connection (plain TCP, or TLS over it) and what has been received on it.
class Connection {
 public:
  /// Resolves and connects to url's host and port; for https also the TLS handshake: the
  /// certificate must chain to a CA of `tls` and name url.host (SNI is sent). Throws HttpError
  /// with the reason ("certificate verify failed: hostname mismatch").
  static asio::awaitable<std::unique_ptr<Connection>> open(Url url, TlsContext* tls);
  ~Connection();

  /// Where the next request's bytes go (format_request_into): kept from request to request,
  /// so that its memory is reused.
  std::string& outgoing() { return outgoing_; }
  /// Writes all of outgoing() (the request).
  asio::awaitable<void> write();
  /// Reads the status line and headers into *head, skipping 1xx interim responses.
  asio::awaitable<void> read_head(ResponseHead* head, Limits limits);
  /// Reads the body *head announces (none for a HEAD request, 1xx, 204 and 304).
  asio::awaitable<std::string> read_body(const ResponseHead* head, bool head_request, Limits limits);
  /// Lesson 014's watchdog of this connection: when its deadline passes it closes the socket,
  /// so that the operation in progress, and any after it, fails at once.
  lesson014::Watchdog& watchdog() { return watchdog_; }

  /// True once a response was read whole, neither side asked to close, and the watchdog did
  /// not close it.
  bool reusable() const { return reusable_ && !watchdog_.expired(); }
  /// True if any byte of a response has arrived on this connection since the last request.
  bool received_anything() const { return received_; }
  void start_request() { received_ = false; reusable_ = false; }

  struct Stream;  // the socket or the TLS stream (http_how_it_is_built.cpp)

 private:
  explicit Connection(std::unique_ptr<Stream> stream);
  asio::awaitable<bool> read_more(std::size_t limit);
  std::optional<std::string> take_line(std::size_t limit, const char* what);
  asio::awaitable<void> need_more(std::size_t limit, const char* what);
  asio::awaitable<std::string> read_line(std::size_t limit, const char* what);
  asio::awaitable<std::string> read_exactly(std::size_t count, std::size_t already);
  asio::awaitable<std::string> read_chunked(Limits limits);

  std::unique_ptr<Stream> stream_;
  std::string buffer_;  // received, not yet parsed
  // Where a read lands before it is appended to buffer_: allocated once per connection, since
  // growing buffer_ by 64 KiB for every read would zero 64 KiB each time (a std::string's
  // resize() fills), which the benchmark measured as 13% of the client's instructions.
  std::vector<char> landing_ = std::vector<char>(64 * 1024);
  std::string outgoing_;
  bool reusable_ = false, received_ = false;
  lesson014::Watchdog watchdog_;  // after stream_: destroyed first
};

/// The request's bytes: request line, Host, Content-Length (when there is a body), the extra
/// headers, the blank line, the body.
std::string format_request(const std::string& method, const Url& url, const Headers& headers,
                           const std::string& body);
/// The same bytes into *out (cleared first, its memory kept): what Client sends.
void format_request_into(std::string* out, const std::string& method, const Url& url,
                         const Headers& headers, const std::string& body);

/// A minimal HTTP/1.1 keep-alive server on 127.0.0.1 (port 0: any free one). Each request
/// (its head, and a Content-Length body) goes to `handler`, which writes whatever it wants on
/// the socket and returns true to keep the connection for the next request.
class TinyServer {
 public:
  struct Request {
    std::string method, target, head, body;
  };
  using Handler = std::function<asio::awaitable<bool>(Request, asio::ip::tcp::socket&)>;

  TinyServer(asio::any_io_executor executor, Handler handler, std::uint16_t port = 0);
  ~TinyServer();
  TinyServer(const TinyServer&) = delete;
  TinyServer& operator=(const TinyServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::string url(std::string_view target) const;  ///< "http://127.0.0.1:<port><target>"
  /// Stops accepting. Sessions end when their clients close (or on their handler's return).
  void stop();
  std::size_t accepted() const { return *accepted_; }

 private:
  std::shared_ptr<asio::ip::tcp::acceptor> acceptor_;  // shared with the accept loop
  Handler handler_;
  std::uint16_t port_ = 0;
  std::shared_ptr<std::size_t> accepted_ = std::make_shared<std::size_t>(0);
};

/// The response the benchmark server sends: "HTTP/1.1 200 OK", Content-Length, `body`.
std::string canned_response(int status, std::string_view reason, std::string_view body,
                            std::string_view extra_headers = "");

}  // namespace lesson025
