// How it is built: lesson 026's machinery (see ws_how_it_is_built.hpp). A learner can skip it.
#include "ws_how_it_is_built.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <random>
#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>

#include "run.hpp"
#include "timeouts.hpp"  // lesson 014: sleep()

namespace lesson026 {

using namespace asio::experimental::awaitable_operators;

// ------------------------------------------------ the connection's plumbing (ws.cpp uses it)

ConnectionClosed::ConnectionClosed(std::uint16_t c, const std::string& why)
    : std::runtime_error(fmt::format("connection closed: {} {}", c, why)), code(c), reason(why) {}

WebSocket WebSocket::start(tcp::socket socket, std::string rest, bool client, Options options) {
  auto state = std::make_shared<State>(std::move(socket), std::move(rest), client, options);
  auto executor = state->socket.get_executor();
  asio::co_spawn(executor, writer(state), tut::rethrow);
  asio::co_spawn(executor, keepalive(state), tut::rethrow);
  // The handles share one more pointer whose deleter runs when the last handle is gone: a
  // connection nobody can use any more says goodbye (1001) instead of leaking its writer.
  std::shared_ptr<State> handle(state.get(), [state](State*) {
    state->send_close(close_payload(status::going_away, ""));
    state->finish();
  });
  return WebSocket(std::move(handle));
}

std::optional<Message> closed_by_peer(WebSocket::State& s, const std::string& payload) {
  std::uint16_t code = status::no_status;
  if (payload.size() == 1) fail(s, status::protocol_error, "close frame of one byte");
  if (payload.size() >= 2) {
    code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                      static_cast<std::uint8_t>(payload[1]));
    if (!valid_close_code(code)) fail(s, status::protocol_error, fmt::format("bad close code {}", code));
    if (!valid_utf8(std::string_view(payload).substr(2)))
      fail(s, status::invalid_data, "invalid UTF-8 in the close reason");
  }
  s.close_received = true;
  s.code = code;
  s.reason = payload.size() > 2 ? payload.substr(2) : "";
  s.send_close(payload.size() >= 2 ? close_payload(code, "") : "");
  s.finish();
  // websockets: ConnectionClosedOK for 1000, 1001 and no code; ConnectionClosedError else.
  if (code == status::normal || code == status::going_away || code == status::no_status)
    return std::nullopt;
  throw ConnectionClosed(code, s.reason);
}

// Reads and drops everything until the peer closes (or the socket is closed).
asio::awaitable<void> drain(std::shared_ptr<WebSocket::State> s) {
  std::array<char, 4096> scratch;
  for (;;) {
    auto [error, n] = co_await s->socket.async_read_some(asio::buffer(scratch), no_throw);
    if (error) co_return;
  }
}

asio::awaitable<void> writer(std::shared_ptr<WebSocket::State> s) {
  co_await s->out.run();  // until finish() and an empty queue, or until a write fails
  asio::error_code ignored;
  if (s->finished) {  // else a write failed while receive() may still read: just close
    s->socket.shutdown(tcp::socket::shutdown_send, ignored);
    auto until_peer_closes = drain(s);
    auto deadline = lesson014::sleep(s->options.close_timeout);
    co_await (std::move(until_peer_closes) || std::move(deadline));
  }
  s->socket.close(ignored);
}

void WebSocket::start_close(std::uint16_t code, std::string reason) {
  State& s = *state_;
  if (s.close_sent || s.finished) return;
  s.code = code;
  s.reason = reason;
  s.send_close(close_payload(code, reason));
}

void WebSocket::abort() {
  State& s = *state_;
  if (s.code == 0) {
    s.code = status::abnormal;
    s.reason = "aborted";
  }
  s.lost = "aborted";
  s.finish();
  asio::error_code ignored;
  s.socket.close(ignored);  // a write under way fails, so the writer ends; so does a read
}

void WebSocket::ping(std::string payload) { state_->send_frame(opcode::ping, payload.substr(0, 125)); }
std::uint16_t WebSocket::close_code() const { return state_->code; }

// --------------------------------------------------------------------------- the server

WebSocketServer::WebSocketServer(asio::any_io_executor executor, const tcp::endpoint& endpoint,
                                 Handler handler, Options options)
    : acceptor_(executor, endpoint), handler_(std::move(handler)), options_(options) {}

unsigned short WebSocketServer::port() const { return acceptor_.local_endpoint().port(); }

void WebSocketServer::stop() {
  asio::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> WebSocketServer::serve() {
  for (;;) {
    auto [error, socket] = co_await acceptor_.async_accept(no_throw);
    if (error == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (error) continue;
    asio::co_spawn(acceptor_.get_executor(), session(std::move(socket), handler_, options_),
                   tut::rethrow);
  }
}

// The page a browser gets from GET /: its script opens ws://<host>/echo, sends a message,
// writes the echo into the page (id "echo") and sends "browser got: <echo>" back.
constexpr std::string_view echo_page = R"(<!DOCTYPE html>
<html><head><title>lesson 026: WebSocket echo</title></head>
<body><p id="status">connecting</p><p id="echo"></p>
<script>
const ws = new WebSocket("ws://" + location.host + "/echo");
ws.onopen = () => { document.getElementById("status").textContent = "open"; ws.send("hello from the browser"); };
ws.onmessage = (event) => {
  if (document.getElementById("echo").textContent !== "") return;
  document.getElementById("echo").textContent = event.data;
  ws.send("browser got: " + event.data);
};
ws.onclose = (event) => { document.getElementById("status").textContent = "closed " + event.code; };
</script></body></html>
)";

asio::awaitable<void> WebSocketServer::session(tcp::socket socket, Handler handler,
                                               Options options) {
  std::string head, rest;
  try {
    co_await read_head(socket, head, rest);
  } catch (const HandshakeError&) {
    co_return;  // gone before finishing its request
  }
  const auto request = parse_head(head);
  if (request && request->first_line.starts_with("GET / ") &&
      !request->has_token("upgrade", "websocket")) {  // a browser asking for the page
    const std::string response = fmt::format(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}", echo_page.size(), echo_page);
    co_await asio::async_write(socket, asio::buffer(response), no_throw);
    co_return;
  }
  std::optional<WebSocket> websocket;
  try {
    websocket = co_await WebSocket::accept(std::move(socket), head, rest, options);
  } catch (const std::exception&) {
    co_return;  // refused with 400, or the client left
  }
  std::uint16_t code = status::normal;
  try {
    auto handling = handler(*websocket);
    co_await std::move(handling);
  } catch (const ConnectionClosed&) {  // the handler's receive() saw the end
  } catch (const std::exception&) {
    code = status::internal_error;     // the handler failed: 1011, like websockets
  }
  co_await websocket->close(code);  // nothing to do if the connection is already closed
}

// ---------------------------------------------------------------------- frames and UTF-8

namespace {

// The keys and masks: a per-thread engine seeded by the OS (OpenSSL's RAND_bytes would cost
// its generator's set-up on the first connection, which a sanitizer build makes visible).
std::string random_bytes(std::size_t count) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::string bytes(count, '\0');
  for (char& b : bytes) b = static_cast<char>(engine());
  return bytes;
}

// Reads until `buffer` holds at least `size` bytes. Throws std::system_error at the end.
asio::awaitable<void> fill(tcp::socket& socket, std::string& buffer, std::size_t size) {
  if (buffer.size() >= size) co_return;
  auto dynamic = asio::dynamic_buffer(buffer);
  co_await asio::async_read(socket, dynamic, asio::transfer_at_least(size - buffer.size()),
                            asio::use_awaitable);
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

asio::awaitable<Frame> read_frame(tcp::socket& socket, std::string& buffer,
                                  std::size_t max_payload) {
  co_await fill(socket, buffer, 2);
  const auto b0 = static_cast<std::uint8_t>(buffer[0]), b1 = static_cast<std::uint8_t>(buffer[1]);
  Frame frame;
  frame.fin = (b0 & 0x80) != 0;
  frame.opcode = b0 & 0x0F;
  frame.masked = (b1 & 0x80) != 0;
  if ((b0 & 0x70) != 0) throw ProtocolError(status::protocol_error, "reserved bits set");
  const std::uint8_t length7 = b1 & 0x7F;
  const std::size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  const std::size_t header = 2 + length_bytes + (frame.masked ? 4 : 0);
  co_await fill(socket, buffer, header);
  std::uint64_t length = length7;
  if (length_bytes > 0) {
    length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(buffer[2 + i]);
    if (length_bytes == 8 && (length >> 63) != 0)
      throw ProtocolError(status::protocol_error, "64-bit length with its top bit set");
  }
  if (frame.opcode >= 0x8 && (length > 125 || !frame.fin))
    throw ProtocolError(status::protocol_error, "a control frame over 125 bytes or fragmented");
  if (frame.opcode < 0x8 && length > max_payload)
    throw ProtocolError(status::too_big, "message too big");
  co_await fill(socket, buffer, header + static_cast<std::size_t>(length));
  frame.payload = buffer.substr(header, static_cast<std::size_t>(length));
  if (frame.masked) {
    const char* key = buffer.data() + header - 4;
    for (std::size_t i = 0; i < frame.payload.size(); ++i) frame.payload[i] ^= key[i % 4];
  }
  buffer.erase(0, header + static_cast<std::size_t>(length));
  co_return frame;
}

std::string encode_frame(std::uint8_t op, std::string_view payload, bool fin, bool mask) {
  std::string frame;
  frame.reserve(payload.size() + 14);
  frame += static_cast<char>((fin ? 0x80 : 0) | op);
  const int mask_bit = mask ? 0x80 : 0;
  const std::uint64_t length = payload.size();
  const int extra = length < 126 ? 0 : length <= 0xFFFF ? 2 : 8;  // bytes of a longer length
  frame += static_cast<char>(mask_bit | (extra == 0 ? length : extra == 2 ? 126 : 127));
  for (int i = extra - 1; i >= 0; --i) frame += static_cast<char>(length >> (8 * i));
  if (!mask) return frame.append(payload);
  const std::string key = random_bytes(4);
  frame += key;
  const std::size_t start = frame.size();
  frame.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i) frame[start + i] ^= key[i % 4];
  return frame;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return payload.append(reason.substr(0, 123));
}

bool valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t point = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; point = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; point = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; point = c & 0x07; }
    else return false;  // a continuation byte first, an overlong 2-byte lead, or > U+10FFFF
    if (i + extra >= text.size()) return false;  // truncated
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      point = (point << 6) | (next & 0x3F);
    }
    if ((extra == 2 && point < 0x800) || (extra == 3 && (point < 0x10000 || point > 0x10FFFF)) ||
        (point >= 0xD800 && point <= 0xDFFF))
      return false;  // overlong, out of range, or a UTF-16 surrogate
    i += extra + 1;
  }
  return true;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + 1: EVP_EncodeBlock's NUL
  out.resize(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(bytes.data()),
                             static_cast<int>(bytes.size())));
  return out;
}

std::string accept_key(std::string_view client_key) {
  const std::string input = std::string(client_key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("OpenSSL's SHA-1 failed");
  return base64(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string random_key() { return base64(random_bytes(16)); }

std::string HttpHead::header(const std::string& name) const {
  const auto found = headers.find(name);
  return found == headers.end() ? std::string() : found->second;
}

bool HttpHead::has_token(const std::string& name, std::string_view token) const {
  // "keep-alive, Upgrade" becomes ",keep-alive,upgrade," in which to find ",upgrade,".
  std::string list = "," + lower(header(name)) + ",";
  std::erase(list, ' ');
  std::erase(list, '\t');
  return list.find("," + lower(token) + ",") != std::string::npos;
}

std::optional<HttpHead> parse_head(std::string_view head) {
  HttpHead result;
  auto end = head.find("\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  result.first_line = std::string(head.substr(0, end));
  head.remove_prefix(end + 2);
  while ((end = head.find("\r\n")) != std::string_view::npos && end > 0) {
    const std::string_view line = head.substr(0, end);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    result.headers[lower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
    head.remove_prefix(end + 2);
  }
  return result;
}

asio::awaitable<void> read_head(tcp::socket& socket, std::string& head, std::string& rest) {
  std::string buffer;
  auto dynamic = asio::dynamic_buffer(buffer, 8192);
  auto [error, n] = co_await asio::async_read_until(socket, dynamic, "\r\n\r\n", no_throw);
  if (error == asio::error::not_found) throw HandshakeError("HTTP head longer than 8 KiB");
  if (error) throw HandshakeError("connection ended during the handshake: " + error.message());
  head = buffer.substr(0, n);
  rest = buffer.substr(n);
}

}  // namespace lesson026
