// How it is built: lesson 025's HTTP/1.1 reading rules, TLS set-up and the tiny server
// (see http_how_it_is_built.hpp for what is here and why a learner may skip it).
#include "http_how_it_is_built.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <tuple>
#include <limits>

#include <fmt/core.h>

#include <asio/connect.hpp>
#include <asio/co_spawn.hpp>
#include <asio/ip/address.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson025 {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

bool contains_token(std::string_view value, std::string_view token) {  // "keep-alive, Upgrade"
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find(token) != std::string::npos;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A line from a peer, safe to put in an error message: at most 60 characters, printable.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (text.size() > 60) out += "...";
  return out;
}

bool is_ip_address(const std::string& host) {
  asio::error_code error;
  asio::ip::make_address(host, error);
  return !error;
}

void append_host(std::string* out, const std::string& host) {  // an IPv6 literal in brackets
  const bool ipv6 = host.find(':') != std::string::npos;
  if (ipv6) *out += '[';
  *out += host;
  if (ipv6) *out += ']';
}

}  // namespace

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::optional<std::string> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (equal_ignoring_case(key, name)) return value;
  return std::nullopt;
}

// ---- Url ------------------------------------------------------------------------------------

Url Url::parse(std::string_view text) {
  Url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) throw HttpError(fmt::format("not an absolute URL: {}", shown(text)));
  url.scheme = std::string(text.substr(0, scheme_end));
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (url.scheme != "http" && url.scheme != "https")
    throw HttpError(fmt::format("unsupported scheme (http and https only): {}", shown(text)));
  auto rest = text.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  auto authority = rest.substr(0, path_start);
  if (path_start != std::string_view::npos) {
    url.target = std::string(rest.substr(path_start));
    url.target = url.target.substr(0, url.target.find('#'));  // a fragment is never sent
    if (url.target.empty() || url.target[0] != '/') url.target.insert(0, "/");
  }
  if (authority.find('@') != std::string_view::npos)
    throw HttpError("user:password@ in URLs is not supported");
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {  // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw HttpError(fmt::format("bad host in {}", shown(text)));
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') port_text = authority.substr(close + 2);
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) throw HttpError(fmt::format("no host in URL: {}", shown(text)));
  url.port = url.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535)
      throw HttpError(fmt::format("bad port in URL: {}", shown(text)));
    url.port = static_cast<std::uint16_t>(value);
  }
  return url;
}

// origin() and to_string() run for every request: appends, not fmt::format (which the
// benchmark's profile showed at 8% of the client's instructions, with format_request).
std::string Url::origin() const {
  std::string out;
  out.reserve(scheme.size() + host.size() + 11);
  out += scheme;
  out += "://";
  append_host(&out, host);
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string Url::to_string() const {
  std::string out;
  if (default_port()) {
    out.reserve(scheme.size() + host.size() + target.size() + 5);
    out += scheme;
    out += "://";
    append_host(&out, host);
  } else {
    out = origin();
  }
  out += target;
  return out;
}

Url Url::resolve(std::string_view location) const {
  if (location.find("://") != std::string_view::npos) return parse(location);
  if (location.substr(0, 2) == "//") return parse(scheme + ":" + std::string(location));
  Url next = *this;
  if (!location.empty() && location[0] == '/') {
    next.target = std::string(location);
  } else {  // relative to the current path's folder
    const auto path = target.substr(0, target.find('?'));
    next.target = path.substr(0, path.rfind('/') + 1) + std::string(location);
  }
  return next;
}

HttpTimeout timed_out(std::string_view which, const Url& url, std::chrono::milliseconds limit) {
  const std::string after = tut::seconds(limit);
  if (which == "connect")
    return HttpTimeout(fmt::format("connecting to {} took longer than {} (Options::connect)", url.origin(), after));
  if (which == "first_byte")
    return HttpTimeout(fmt::format("no response from {} within {} (Options::first_byte)", url.origin(), after));
  return HttpTimeout(fmt::format("the request took longer than {} (Options::total)", after));
}

// ---- TLS ------------------------------------------------------------------------------------

struct TlsContext::Impl {
  asio::ssl::context context{asio::ssl::context::tls_client};
};

TlsContext::TlsContext(const std::string& ca_file) : impl_(std::make_unique<Impl>()) {
  auto& context = impl_->context;
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
  asio::error_code error;
  if (ca_file.empty()) {
    context.set_default_verify_paths(error);  // the system's CAs (ca-certificates)
  } else {
    context.load_verify_file(ca_file, error);
  }
  if (error)
    throw HttpError(fmt::format("cannot load the trusted CAs{}: {}",
                                ca_file.empty() ? "" : " from " + ca_file, error.message()));
  context.set_verify_mode(asio::ssl::verify_peer);  // verification is on, always
}

TlsContext::~TlsContext() = default;

// ---- Connection -----------------------------------------------------------------------------

struct Connection::Stream {
  explicit Stream(asio::ip::tcp::socket s) : socket(std::move(s)) {}
  asio::ip::tcp::socket socket;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;  // https: TLS over `socket`
};

Connection::Connection(std::unique_ptr<Stream> stream)
    : stream_(std::move(stream)), watchdog_(stream_->socket.get_executor(), [this] {
        // Closed, not only cancelled: a read that completed just before the deadline and
        // the next one after it fail too, so nothing waits past the deadline.
        asio::error_code ignored;
        stream_->socket.close(ignored);
      }) {}
Connection::~Connection() = default;

asio::awaitable<std::unique_ptr<Connection>> Connection::open(Url url, TlsContext* tls) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto resolving = resolver.async_resolve(url.host, std::to_string(url.port),
                                          compat::as_tuple(asio::use_awaitable));
  auto [resolve_error, endpoints] = co_await std::move(resolving);
  if (resolve_error == asio::error::operation_aborted) throw std::system_error(resolve_error);
  if (resolve_error)
    throw HttpError(fmt::format("cannot resolve {}: {}", url.host, resolve_error.message()));
  asio::ip::tcp::socket socket(executor);
  auto connecting = asio::async_connect(socket, endpoints, compat::as_tuple(asio::use_awaitable));
  auto [connect_error, endpoint] = co_await std::move(connecting);
  if (connect_error == asio::error::operation_aborted) throw std::system_error(connect_error);
  if (connect_error)
    throw HttpError(fmt::format("cannot connect to {}:{}: {}", url.host, url.port,
                                connect_error.message()));
  socket.set_option(asio::ip::tcp::no_delay(true));
  auto stream = std::make_unique<Stream>(std::move(socket));
  if (url.scheme == "https") {
    stream->tls = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(
        stream->socket, tls->impl().context);
    SSL* ssl = stream->tls->native_handle();
    if (is_ip_address(url.host)) {  // the certificate must name this address
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, url.host.c_str());  // SNI: which site we want
      SSL_set1_host(ssl, url.host.c_str());             // the certificate must name it
    }
    auto handshake = stream->tls->async_handshake(asio::ssl::stream_base::client,
                                                  compat::as_tuple(asio::use_awaitable));
    auto [tls_error] = co_await std::move(handshake);
    if (tls_error == asio::error::operation_aborted) throw std::system_error(tls_error);
    if (tls_error) {
      const long verified = SSL_get_verify_result(ssl);
      std::string why = verified != X509_V_OK
                            ? fmt::format("certificate verify failed: {}",
                                          X509_verify_cert_error_string(verified))
                            : tls_error.message();
      throw HttpError(fmt::format("TLS handshake with {}:{} failed: {}", url.host, url.port, why));
    }
  }
  co_return std::unique_ptr<Connection>(new Connection(std::move(stream)));
}

asio::awaitable<void> Connection::write() {
  auto buffer = asio::buffer(outgoing_);
  asio::error_code error;
  if (stream_->tls) {
    auto writing = asio::async_write(*stream_->tls, buffer, compat::as_tuple(asio::use_awaitable));
    std::tie(error, std::ignore) = co_await std::move(writing);
  } else {
    auto writing = asio::async_write(stream_->socket, buffer, compat::as_tuple(asio::use_awaitable));
    std::tie(error, std::ignore) = co_await std::move(writing);
  }
  if (error == asio::error::operation_aborted) throw std::system_error(error);  // a timeout
  if (error) throw HttpError(fmt::format("sending the request failed: {}", error.message()));
}

// Appends what arrives to buffer_ (at most `limit` bytes more); false when the peer closed.
asio::awaitable<bool> Connection::read_more(std::size_t limit) {
  const std::size_t room = std::clamp<std::size_t>(limit, 1, landing_.size());
  auto into = asio::buffer(landing_.data(), room);
  asio::error_code error;
  std::size_t n = 0;
  if (stream_->tls) {
    auto reading = stream_->tls->async_read_some(into, compat::as_tuple(asio::use_awaitable));
    std::tie(error, n) = co_await std::move(reading);
  } else {
    auto reading = stream_->socket.async_read_some(into, compat::as_tuple(asio::use_awaitable));
    std::tie(error, n) = co_await std::move(reading);
  }
  buffer_.append(landing_.data(), n);
  if (n > 0) received_ = true;
  // A TLS peer that closes without close_notify: stream_truncated, an end all the same.
  if (error == asio::error::eof || error == asio::ssl::error::stream_truncated) co_return n > 0;
  if (error == asio::error::operation_aborted) throw std::system_error(error);  // a timeout
  if (error) throw HttpError(fmt::format("receiving the response failed: {}", error.message()));
  co_return true;
}

// A line already in buffer_ (without its CRLF), or nothing if more bytes are needed. A plain
// function, so that a response that arrived whole is parsed without a coroutine per line.
std::optional<std::string> Connection::take_line(std::size_t limit, const char* what) {
  const auto end = buffer_.find('\n');
  if (end == std::string::npos ? buffer_.size() > limit : end > limit)
    throw HttpError(fmt::format("{} is longer than the limit of {} bytes", what, limit));
  if (end == std::string::npos) return std::nullopt;
  const std::size_t length = end > 0 && buffer_[end - 1] == '\r' ? end - 1 : end;
  std::string line = buffer_.substr(0, length);
  buffer_.erase(0, end + 1);
  return line;
}

// More bytes for a line that is not complete yet; an error if the peer closed.
asio::awaitable<void> Connection::need_more(std::size_t limit, const char* what) {
  const bool got_more = co_await read_more(limit + 2 - buffer_.size());
  if (!got_more) {
    if (!received_) throw HttpError("the server closed the connection without a response");
    throw HttpError(fmt::format("the connection closed in the middle of {}", what));
  }
}

asio::awaitable<std::string> Connection::read_line(std::size_t limit, const char* what) {
  for (;;) {
    auto line = take_line(limit, what);
    if (line) co_return std::move(*line);
    co_await need_more(limit, what);
  }
}

asio::awaitable<void> Connection::read_head(ResponseHead* out, Limits limits) {
  for (;;) {
    ResponseHead& head = *out;
    head = ResponseHead{};
    std::optional<std::string> status_line;
    while (!(status_line = take_line(limits.max_line, "the status line")))
      co_await need_more(limits.max_line, "the status line");
    std::string& line = *status_line;
    // "HTTP/1.1 200 OK": the version, three digits, an optional reason.
    const bool well_formed = line.size() >= 12 && line.compare(0, 7, "HTTP/1.") == 0 &&
                             std::isdigit(static_cast<unsigned char>(line[7])) && line[8] == ' ' &&
                             std::all_of(line.begin() + 9, line.begin() + 12,
                                         [](unsigned char c) { return std::isdigit(c); }) &&
                             (line.size() == 12 || line[12] == ' ');
    if (!well_formed) throw HttpError(fmt::format("bad status line: \"{}\"", shown(line)));
    head.minor_version = line[7] - '0';
    head.status = std::stoi(line.substr(9, 3));
    head.reason = line.size() > 13 ? line.substr(13) : "";
    std::size_t header_bytes = 0;
    for (;;) {
      std::optional<std::string> header_line;
      while (!(header_line = take_line(limits.max_line, "a header line")))
        co_await need_more(limits.max_line, "a header line");
      const std::string& field = *header_line;
      if (field.empty()) break;
      header_bytes += field.size() + 2;
      if (header_bytes > limits.max_header_bytes)
        throw HttpError(fmt::format("the response headers are larger than the limit of {} bytes",
                                    limits.max_header_bytes));
      if (head.headers.size() == limits.max_headers)
        throw HttpError(fmt::format("the response has more than {} header fields", limits.max_headers));
      const auto colon = field.find(':');
      if (colon == std::string::npos || colon == 0)
        throw HttpError(fmt::format("bad header line: \"{}\"", shown(field)));
      head.headers.emplace_back(field.substr(0, colon),
                                std::string(trim(std::string_view(field).substr(colon + 1))));
    }
    // 100 Continue and friends come before the real response: skip them (not 101 Switching).
    if (head.status >= 100 && head.status < 200 && head.status != 101) continue;
    co_return;
  }
}

asio::awaitable<std::string> Connection::read_exactly(std::size_t count, std::size_t already) {
  while (buffer_.size() < count) {
    const bool got_more = co_await read_more(count - buffer_.size());
    if (!got_more)
      throw HttpError(fmt::format("the body was cut short: the connection closed after {} of {} bytes",
                                  already + buffer_.size(), already + count));
  }
  std::string bytes = buffer_.substr(0, count);
  buffer_.erase(0, count);
  co_return bytes;
}

asio::awaitable<std::string> Connection::read_chunked(Limits limits) {
  std::string body;
  for (;;) {
    std::string line = co_await read_line(limits.max_line, "a chunk-size line");
    auto size_text = trim(std::string_view(line).substr(0, line.find(';')));  // no extensions
    const bool hex = std::all_of(size_text.begin(), size_text.end(),
                                 [](unsigned char c) { return std::isxdigit(c); });
    if (size_text.empty() || !hex)
      throw HttpError(fmt::format("bad chunk-size line: \"{}\"", shown(line)));
    // The size is checked against what is left of the body limit digit by digit, so that no
    // size (2^60, or 100 hex digits) can overflow or make us reserve memory.
    const std::size_t room = limits.max_body - body.size();
    std::size_t size = 0;
    for (unsigned char c : size_text) {
      size = size * 16 + static_cast<std::size_t>(std::isdigit(c) ? c - '0' : std::tolower(c) - 'a' + 10);
      if (size > room)
        throw HttpError(fmt::format("a chunk of 0x{} bytes would pass the body limit of {} bytes",
                                    shown(size_text), limits.max_body));
    }
    if (size == 0) break;
    std::string chunk = co_await read_exactly(size + 2, 0);
    if (chunk.compare(size, 2, "\r\n") != 0) throw HttpError("a chunk is not followed by CRLF");
    body.append(chunk, 0, size);
  }
  std::size_t trailer_bytes = 0;  // trailer fields after the last chunk: read and dropped
  for (;;) {
    std::string field = co_await read_line(limits.max_line, "a trailer line");
    if (field.empty()) break;
    trailer_bytes += field.size() + 2;
    if (trailer_bytes > limits.max_header_bytes)
      throw HttpError(fmt::format("the trailers are larger than the limit of {} bytes",
                                  limits.max_header_bytes));
  }
  co_return body;
}

asio::awaitable<std::string> Connection::read_body(const ResponseHead* response_head,
                                                   bool head_request, Limits limits) {
  const ResponseHead& head = *response_head;
  const auto connection = find_header(head.headers, "Connection").value_or("");
  // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep.
  bool keep = head.minor_version >= 1 ? !contains_token(connection, "close")
                                      : contains_token(connection, "keep-alive");
  std::string body;
  const auto transfer_encoding = find_header(head.headers, "Transfer-Encoding");
  const auto content_length = find_header(head.headers, "Content-Length");
  if (head_request || head.status == 204 || head.status == 304 || head.status < 200) {
    // no body, whatever the headers say
  } else if (transfer_encoding && contains_token(*transfer_encoding, "chunked")) {
    body = co_await read_chunked(limits);
  } else if (content_length) {
    std::size_t length = 0;
    const auto& text = *content_length;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (error == std::errc::result_out_of_range || (error == std::errc() && length > limits.max_body))
      throw HttpError(fmt::format("Content-Length {} is over the body limit of {} bytes", shown(text),
                                  limits.max_body));
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
      throw HttpError(fmt::format("bad Content-Length: \"{}\"", shown(text)));
    body = co_await read_exactly(length, 0);
  } else {  // the body ends when the server closes the connection
    keep = false;
    for (;;) {
      const bool got_more = co_await read_more(limits.max_body + 1 - buffer_.size());
      if (buffer_.size() > limits.max_body)
        throw HttpError(fmt::format("the body is larger than the limit of {} bytes", limits.max_body));
      if (!got_more) break;
    }
    body = std::move(buffer_);
    buffer_.clear();
  }
  reusable_ = keep && buffer_.empty();  // bytes nobody asked for: do not trust this connection
  co_return body;
}

std::string format_request(const std::string& method, const Url& url, const Headers& headers,
                           const std::string& body) {
  std::string request;
  format_request_into(&request, method, url, headers, body);
  return request;
}

// Appends into a buffer the connection keeps, without fmt: this runs for every request.
void format_request_into(std::string* out, const std::string& method, const Url& url,
                         const Headers& headers, const std::string& body) {
  std::string& request = *out;
  request.clear();
  request += method;
  request += ' ';
  request += url.target;
  request += " HTTP/1.1\r\nHost: ";
  append_host(&request, url.host);
  if (!url.default_port()) {
    request += ':';
    request += std::to_string(url.port);
  }
  request += "\r\n";
  if (!find_header(headers, "User-Agent")) request += "User-Agent: tutorial-025\r\n";
  if (!find_header(headers, "Accept")) request += "Accept: */*\r\n";
  for (const auto& [name, value] : headers) {
    request += name;
    request += ": ";
    request += value;
    request += "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Length: ";
    request += std::to_string(body.size());
    request += "\r\n";
  }
  request += "\r\n";
  request += body;
}

// ---- TinyServer -----------------------------------------------------------------------------

namespace {

asio::awaitable<void> serve_session(asio::ip::tcp::socket socket, TinyServer::Handler handler) {
  socket.set_option(asio::ip::tcp::no_delay(true));
  std::string buffer;
  for (;;) {
    auto reading = asio::async_read_until(socket, asio::dynamic_buffer(buffer, 1 << 20), "\r\n\r\n",
                                          compat::as_tuple(asio::use_awaitable));
    auto [error, head_size] = co_await std::move(reading);
    if (error) co_return;  // the client closed (or sent 1 MiB of headers)
    TinyServer::Request request;
    request.head = buffer.substr(0, head_size);
    buffer.erase(0, head_size);
    const auto first_line = std::string_view(request.head).substr(0, request.head.find("\r\n"));
    request.method = std::string(first_line.substr(0, first_line.find(' ')));
    const auto target_start = first_line.find(' ') + 1;
    request.target = std::string(first_line.substr(target_start, first_line.find(' ', target_start) - target_start));
    std::size_t length = 0;
    std::string lower = request.head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
    if (buffer.size() < length) {
      auto body_reading = asio::async_read(socket, asio::dynamic_buffer(buffer),
                                           asio::transfer_exactly(length - buffer.size()),
                                           compat::as_tuple(asio::use_awaitable));
      auto [body_error, n] = co_await std::move(body_reading);
      if (body_error) co_return;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    const bool keep = co_await handler(std::move(request), socket);
    if (!keep) co_return;
  }
}

asio::awaitable<void> accept_loop(std::shared_ptr<asio::ip::tcp::acceptor> acceptor,
                                  TinyServer::Handler handler, std::shared_ptr<std::size_t> accepted) {
  for (;;) {
    auto accepting = acceptor->async_accept(compat::as_tuple(asio::use_awaitable));
    auto [error, socket] = co_await std::move(accepting);
    if (error) co_return;  // stop() closed the acceptor
    ++*accepted;
    // A session's error (a client reset, a write to a closed socket) ends that session only:
    // the ignoring handler is deliberate, a server must not stop for one client's failure.
    asio::co_spawn(acceptor->get_executor(), serve_session(std::move(socket), handler),
                   [](std::exception_ptr) {});
  }
}

}  // namespace

TinyServer::TinyServer(asio::any_io_executor executor, Handler handler, std::uint16_t port)
    : acceptor_(std::make_shared<asio::ip::tcp::acceptor>(
          executor, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port))),
      handler_(std::move(handler)),
      port_(acceptor_->local_endpoint().port()) {
  asio::co_spawn(executor, accept_loop(acceptor_, handler_, accepted_), tut::rethrow);
}

TinyServer::~TinyServer() { stop(); }

std::string TinyServer::url(std::string_view target) const {
  return fmt::format("http://127.0.0.1:{}{}", port(), target);
}

void TinyServer::stop() {
  asio::error_code ignored;
  acceptor_->close(ignored);
}

std::string canned_response(int status, std::string_view reason, std::string_view body,
                            std::string_view extra_headers) {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n{}\r\n{}", status, reason,
                     body.size(), extra_headers, body);
}

}  // namespace lesson025
