// Lesson 026 tests: the handshake's arithmetic, the frame format, and frame-level conformance
// cases in the spirit of the Autobahn test suite's sections 1-7, each against the real server
// on 127.0.0.1 from a raw TCP client that writes exactly the bytes a case needs. Then the
// client's side of the rules, the keepalive, and the closing handshake. Real peers that no
// lesson wrote (Python's websockets, Chromium): test_026_websockets_peers.cpp.
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "test_support.hpp"
#include "ws.hpp"
#include "ws_how_it_is_built.hpp"

using namespace lesson026;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

const asio::ip::address localhost = asio::ip::make_address("127.0.0.1");

std::string client_frame(std::uint8_t op, std::string_view payload, bool fin = true) {
  return encode_frame(op, payload, fin, true);  // a client masks
}

std::uint16_t code_of(const Frame& frame) {
  if (frame.payload.size() < 2) return 0;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(frame.payload[0]) << 8) |
                                    static_cast<std::uint8_t>(frame.payload[1]));
}

std::string upgrade_request(const std::string& key) {
  return "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// A raw client: the handshake, then `bytes` as they are, then every frame the server sends
// until its close frame or the end of the connection (into *frames). Stops the server.
asio::awaitable<void> raw_client(unsigned short port, std::string bytes, WebSocketServer* server,
                                 std::vector<Frame>* frames) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({localhost, port}, asio::use_awaitable);
  const std::string key = random_key();
  const std::string request = upgrade_request(key);
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string head, buffer;
  co_await read_head(socket, head, buffer);
  REQUIRE(head.starts_with("HTTP/1.1 101"));
  REQUIRE(parse_head(head)->header("sec-websocket-accept") == accept_key(key));
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
  for (;;) {
    Frame frame;
    bool ended = false;
    try {
      frame = co_await read_frame(socket, buffer, std::numeric_limits<std::size_t>::max());
    } catch (const std::system_error&) {
      ended = true;
    }
    if (ended) break;
    frames->push_back(frame);
    if (frame.opcode == opcode::close) break;
  }
  server->stop();
}

asio::awaitable<std::vector<Frame>> converse_async(std::string bytes, Options options) {
  auto executor = co_await asio::this_coro::executor;
  WebSocketServer server(executor, {localhost, 0}, echo, options);
  std::vector<Frame> frames;
  auto serving = server.serve();
  auto client = raw_client(server.port(), std::move(bytes), &server, &frames);
  co_await (std::move(serving) && std::move(client));
  co_return frames;
}

/// The echo server's answer to `bytes` written after the handshake: every frame it sent.
std::vector<Frame> converse(std::string bytes, Options options = {}) {
  return tut::test::run_within(converse_async(std::move(bytes), options), 30s);
}

/// The close code the server answered `bytes` with (0 if it sent no close frame).
std::uint16_t close_answer(std::string bytes, Options options = {}) {
  const auto frames = converse(std::move(bytes), options);
  if (frames.empty() || frames.back().opcode != opcode::close) return 0;
  return code_of(frames.back());
}

const std::string normal_close = client_frame(opcode::close, close_payload(1000, "bye"));

}  // namespace

TEST_CASE("accept_key gives RFC 6455's example answer") {
  // RFC 6455 section 1.3: this key must give this Sec-WebSocket-Accept.
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(random_key().size() == 24);
  CHECK(random_key() != random_key());
}

TEST_CASE("frames carry 7-bit 16-bit and 64-bit lengths and clients mask") {
  CHECK(encode_frame(opcode::text, std::string(125, 'a')).size() == 2 + 125);
  CHECK(encode_frame(opcode::text, std::string(126, 'a')).size() == 4 + 126);
  CHECK(encode_frame(opcode::text, std::string(65535, 'a')).size() == 4 + 65535);
  CHECK(encode_frame(opcode::text, std::string(65536, 'a')).size() == 10 + 65536);
  const std::string masked = encode_frame(opcode::binary, "abcd", true, true);
  REQUIRE(masked.size() == 2 + 4 + 4);
  CHECK((static_cast<std::uint8_t>(masked[1]) & 0x80) != 0);
  // Unmasking by hand: each payload byte XOR the key byte at its position modulo 4.
  std::string decoded = masked.substr(6);
  for (std::size_t i = 0; i < 4; ++i) decoded[i] ^= masked[2 + i];
  CHECK(decoded == "abcd");
}

TEST_CASE("valid_utf8 refuses overlong forms surrogates and truncated sequences") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("hello"));
  CHECK(valid_utf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // κόσμε
  CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));                              // U+10FFFF
  CHECK_FALSE(valid_utf8("\xc0\x80"));                                // overlong NUL
  CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));                            // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));                            // surrogate U+D800
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));                        // above U+10FFFF
  CHECK_FALSE(valid_utf8("\xce"));                                    // truncated
  CHECK_FALSE(valid_utf8("\x80"));                                    // a lone continuation
  CHECK_FALSE(valid_utf8("\xff"));
}

TEST_CASE("autobahn 1.1 text messages of 0 to 65536 bytes come back whole and unmasked") {
  const std::vector<std::size_t> sizes = {0, 1, 125, 126, 127, 128, 65535, 65536, 300000};
  std::string bytes;
  for (std::size_t size : sizes) bytes += client_frame(opcode::text, std::string(size, '*'));
  bytes += normal_close;
  const auto frames = converse(bytes);
  REQUIRE(frames.size() == sizes.size() + 1);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CHECK(frames[i].opcode == opcode::text);
    CHECK(frames[i].fin);
    CHECK_FALSE(frames[i].masked);
    CHECK(frames[i].payload == std::string(sizes[i], '*'));
  }
  CHECK(frames.back().opcode == opcode::close);
  CHECK(code_of(frames.back()) == 1000);
}

TEST_CASE("autobahn 1.2 binary messages of 0 to 65536 bytes come back whole") {
  const std::vector<std::size_t> sizes = {0, 125, 126, 65535, 65536};
  std::string bytes;
  for (std::size_t size : sizes) bytes += client_frame(opcode::binary, std::string(size, '\xfe'));
  bytes += normal_close;
  const auto frames = converse(bytes);
  REQUIRE(frames.size() == sizes.size() + 1);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CHECK(frames[i].opcode == opcode::binary);
    CHECK(frames[i].payload == std::string(sizes[i], '\xfe'));
  }
}

TEST_CASE("autobahn 2 a ping gets a pong with its payload") {
  const std::string payload(125, '\x01');
  const auto frames = converse(client_frame(opcode::ping, payload) +
                               client_frame(opcode::ping, "") + normal_close);
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].opcode == opcode::pong);
  CHECK(frames[0].payload == payload);
  CHECK(frames[1].opcode == opcode::pong);
  CHECK(frames[1].payload.empty());
  CHECK(code_of(frames[2]) == 1000);
}

TEST_CASE("autobahn 2 a ping of 126 bytes is closed with 1002") {
  CHECK(close_answer(client_frame(opcode::ping, std::string(126, 'p'))) == 1002);
}

TEST_CASE("autobahn 2 an unsolicited pong is ignored") {
  const auto frames = converse(client_frame(opcode::pong, "unasked") +
                               client_frame(opcode::text, "still here") + normal_close);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].payload == "still here");
}

TEST_CASE("autobahn 3 reserved bits are closed with 1002") {
  for (char bit : {'\x40', '\x20', '\x10'}) {
    std::string frame = client_frame(opcode::text, "rsv");
    frame[0] = static_cast<char>(frame[0] | bit);
    CHECK(close_answer(frame) == 1002);
  }
}

TEST_CASE("autobahn 4 reserved opcodes are closed with 1002") {
  for (std::uint8_t op : {3, 7, 11, 15}) CHECK(close_answer(client_frame(op, "x")) == 1002);
}

TEST_CASE("autobahn 5 a fragmented message with interleaved pings comes back as one message") {
  const auto frames = converse(client_frame(opcode::text, "frag", false) +
                               client_frame(opcode::ping, "p1") +
                               client_frame(opcode::continuation, "men", false) +
                               client_frame(opcode::ping, "p2") +
                               client_frame(opcode::continuation, "ted", true) + normal_close);
  REQUIRE(frames.size() == 4);
  CHECK(frames[0].opcode == opcode::pong);
  CHECK(frames[0].payload == "p1");
  CHECK(frames[1].payload == "p2");
  CHECK(frames[2].opcode == opcode::text);
  CHECK(frames[2].payload == "fragmented");
  CHECK(code_of(frames[3]) == 1000);
}

TEST_CASE("autobahn 5 a binary message in 1-byte fragments comes back as one message") {
  std::string bytes = client_frame(opcode::binary, "a", false);
  for (char c : std::string("bcdefgh")) bytes += client_frame(opcode::continuation, std::string(1, c), false);
  bytes += client_frame(opcode::continuation, "", true) + normal_close;
  const auto frames = converse(bytes);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].opcode == opcode::binary);
  CHECK(frames[0].payload == "abcdefgh");
}

TEST_CASE("autobahn 5 fragmentation errors are closed with 1002") {
  // A continuation with no message to continue.
  CHECK(close_answer(client_frame(opcode::continuation, "orphan")) == 1002);
  // A new message inside a fragmented one.
  CHECK(close_answer(client_frame(opcode::text, "one", false) + client_frame(opcode::text, "two")) ==
        1002);
  // A fragmented control frame.
  CHECK(close_answer(client_frame(opcode::ping, "half", false) +
                     client_frame(opcode::continuation, "ping")) == 1002);
}

TEST_CASE("autobahn 6 valid UTF-8 comes back also when split inside a character") {
  const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  const auto frames = converse(client_frame(opcode::text, kosme) +
                               client_frame(opcode::text, kosme.substr(0, 3), false) +
                               client_frame(opcode::continuation, kosme.substr(3), true) +
                               normal_close);
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].payload == kosme);
  CHECK(frames[1].payload == kosme);
}

TEST_CASE("autobahn 6 invalid UTF-8 in a text message is closed with 1007") {
  for (const std::string bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xff", "\xce"})
    CHECK(close_answer(client_frame(opcode::text, bad)) == 1007);
  // Invalid only once the fragments are joined: the end of a message is cut off.
  CHECK(close_answer(client_frame(opcode::text, "\xce\xba\xe1", false) +
                     client_frame(opcode::continuation, "x", true)) == 1007);
  // Binary messages are bytes: never checked.
  CHECK(close_answer(client_frame(opcode::binary, "\xff\xfe") + normal_close) == 1000);
}

TEST_CASE("autobahn 7 valid close codes are echoed and invalid ones get 1002") {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999})
    CHECK(close_answer(client_frame(opcode::close, close_payload(code, "reason"))) == code);
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535})
    CHECK(close_answer(client_frame(opcode::close, close_payload(code, ""))) == 1002);
  CHECK(close_answer(client_frame(opcode::close, "\x03")) == 1002);  // one byte: no code
}

TEST_CASE("autobahn 7 an empty close is answered with an empty close") {
  const auto frames = converse(client_frame(opcode::close, ""));
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode == opcode::close);
  CHECK(frames[0].payload.empty());
}

TEST_CASE("autobahn 7 a close reason that is not UTF-8 is closed with 1007") {
  CHECK(close_answer(client_frame(opcode::close, close_payload(1000, "\xed\xa0\x80"))) == 1007);
}

TEST_CASE("autobahn 7 nothing is echoed after the close frame") {
  const auto frames = converse(normal_close + client_frame(opcode::text, "too late"));
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode == opcode::close);
}

TEST_CASE("an unmasked client frame is closed with 1002") {
  CHECK(close_answer(encode_frame(opcode::text, "naked", true, false)) == 1002);
}

TEST_CASE("a message over max_message is closed with 1009 also in fragments") {
  Options small;
  small.max_message = 1000;
  CHECK(close_answer(client_frame(opcode::binary, std::string(1000, 'x')) + normal_close, small) ==
        1000);
  CHECK(close_answer(client_frame(opcode::binary, std::string(1001, 'x')), small) == 1009);
  CHECK(close_answer(client_frame(opcode::text, std::string(600, 'x'), false) +
                         client_frame(opcode::continuation, std::string(600, 'x')),
                     small) == 1009);
}

// ------------------------------------------------------------- this lesson's client

namespace {

// A fake server: the handshake (with the right or a wrong accept key), then `bytes`; what the
// client sends after the handshake ends up in *received (until it closes the connection).
asio::awaitable<void> fake_server(tcp::acceptor* acceptor, bool right_key, std::string bytes,
                                  std::string* received) {
  auto socket = co_await acceptor->async_accept(asio::use_awaitable);
  std::string head, rest;
  co_await read_head(socket, head, rest);
  const std::string key = right_key ? parse_head(head)->header("sec-websocket-key") : "wrong";
  const std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(key) +
                               "\r\n\r\n" + bytes;
  co_await asio::async_write(socket, asio::buffer(response), asio::use_awaitable);
  *received = rest;
  auto dynamic = asio::dynamic_buffer(*received);
  auto reading = asio::async_read(socket, dynamic, no_throw);
  co_await std::move(reading);  // until the client closes
}

struct ClientOutcome {
  std::string error;          // what the client threw
  std::uint16_t code = 0;     // ConnectionClosed's code
  std::string received;       // what the fake server got after the handshake
};

asio::awaitable<ClientOutcome> client_against_fake(bool right_key, std::string bytes, Options options) {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {localhost, 0});
  ClientOutcome outcome;
  auto server = fake_server(&acceptor, right_key, std::move(bytes), &outcome.received);
  auto client = [](unsigned short port, Options o, ClientOutcome* out) -> asio::awaitable<void> {
    try {
      auto websocket = co_await WebSocket::connect("127.0.0.1", std::to_string(port), "/", o);
      auto message = co_await websocket.receive();
      out->error = message ? "got " + message->data : "closed";
    } catch (const ConnectionClosed& e) {
      out->error = e.what();
      out->code = e.code;
    } catch (const HandshakeError& e) {
      out->error = e.what();
    }
  };
  auto running = client(acceptor.local_endpoint().port(), options, &outcome);
  co_await (std::move(server) && std::move(running));
  co_return outcome;
}

}  // namespace

TEST_CASE("the client refuses a wrong Sec-WebSocket-Accept") {
  const auto outcome = tut::test::run_within(client_against_fake(false, "", {}), 30s);
  CHECK_THAT(outcome.error, tut::test::ContainsSubstring("Sec-WebSocket-Accept"));
}

TEST_CASE("the client masks its frames and closes with 1002 on a masked frame from a server") {
  const std::string masked = encode_frame(opcode::text, "masked", true, true);
  const auto outcome = tut::test::run_within(client_against_fake(true, masked, {}), 30s);
  CHECK(outcome.code == 1002);
  std::string buffer = outcome.received;
  // The client's close frame, read back from the bytes the fake server got.
  REQUIRE(buffer.size() >= 2);
  CHECK((static_cast<std::uint8_t>(buffer[1]) & 0x80) != 0);  // masked
  CHECK((static_cast<std::uint8_t>(buffer[0]) & 0x0F) == opcode::close);
}

TEST_CASE("the client closes with 1002 on a bad opcode and 1007 on invalid UTF-8") {
  auto outcome = tut::test::run_within(client_against_fake(true, encode_frame(5, "?"), {}), 30s);
  CHECK(outcome.code == 1002);
  outcome = tut::test::run_within(client_against_fake(true, encode_frame(opcode::text, "\xc0\xaf"), {}), 30s);
  CHECK(outcome.code == 1007);
}

TEST_CASE("a client finds a silent server by its ping timeout") {
  Options quick;
  quick.ping_interval = 50ms;
  quick.ping_timeout = 50ms;
  const auto outcome = tut::test::run_within(client_against_fake(true, "", quick), 30s);
  CHECK(outcome.code == 1006);
  CHECK_THAT(outcome.error, tut::test::ContainsSubstring("ping timeout"));
  // What the silent server got: a ping, the keepalive's.
  REQUIRE(outcome.received.size() >= 2);
  CHECK((static_cast<std::uint8_t>(outcome.received[0]) & 0x0F) == opcode::ping);
}

namespace {

struct Ended {
  std::uint16_t code = 0;
  std::string reason;
};

// A raw peer that completes the handshake and then never reads: it cannot answer a ping.
asio::awaitable<void> silent_peer(unsigned short port, WebSocketServer* server) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({localhost, port}, asio::use_awaitable);
  const std::string request = upgrade_request(random_key());
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string head, rest;
  co_await read_head(socket, head, rest);
  auto reading = asio::async_read(socket, asio::dynamic_buffer(rest), no_throw);
  co_await std::move(reading);  // the server closes the connection: the read ends
  server->stop();
}

// Returns the record, not a copy: the session may end after serve() has returned.
asio::awaitable<std::shared_ptr<Ended>> server_with_silent_peer() {
  auto executor = co_await asio::this_coro::executor;
  Options quick;
  quick.ping_interval = 50ms;
  quick.ping_timeout = 50ms;
  auto ended = std::make_shared<Ended>();
  auto handler = [ended](WebSocket websocket) -> asio::awaitable<void> {
    try {
      co_await echo(websocket);
    } catch (const ConnectionClosed& e) {
      ended->code = e.code;
      ended->reason = e.reason;
    }
  };
  WebSocketServer server(executor, {localhost, 0}, handler, quick);
  auto serving = server.serve();
  auto peer = silent_peer(server.port(), &server);
  co_await (std::move(serving) && std::move(peer));
  co_return ended;
}

}  // namespace

TEST_CASE("a server finds a vanished peer by its ping timeout") {
  const auto ended = tut::test::run_within(server_with_silent_peer(), 30s);
  CHECK(ended->code == 1006);
  CHECK_THAT(ended->reason, tut::test::ContainsSubstring("ping timeout"));
}

namespace {

struct Conversation {
  std::vector<Message> echoes;
  std::uint16_t client_code = 0, server_code = 0;
  std::string error;
};

asio::awaitable<void> talk(unsigned short port, Conversation* out, WebSocketServer* server) {
  Options fragments;
  fragments.max_frame = 7;
  auto websocket = co_await WebSocket::connect("127.0.0.1", std::to_string(port), "/echo", fragments);
  const std::vector<Message> messages = {{false, "hello"}, {true, std::string(70'000, '\0')},
                                         {false, "fragmented into 7-byte frames, κόσμε"}};
  for (const Message& message : messages) {
    websocket.ping("are you there");
    co_await websocket.send(message);
    auto echo_message = co_await websocket.receive();
    out->echoes.push_back(echo_message.value_or(Message{false, "<closed>"}));
  }
  co_await websocket.close(4000, "done");
  out->client_code = websocket.close_code();
  server->stop();
}

asio::awaitable<Conversation> client_and_server() {
  auto executor = co_await asio::this_coro::executor;
  auto conversation = std::make_shared<Conversation>();
  auto handler = [conversation](WebSocket websocket) -> asio::awaitable<void> {
    try {
      co_await echo(websocket);
    } catch (const ConnectionClosed& e) {
      conversation->server_code = e.code;  // 4000 is no "OK" code: ConnectionClosed
    }
  };
  WebSocketServer server(executor, {localhost, 0}, handler);
  auto serving = server.serve();
  auto talking = talk(server.port(), conversation.get(), &server);
  co_await (std::move(serving) && std::move(talking));
  co_return *conversation;
}

asio::awaitable<std::uint16_t> throwing_handler_closes_with() {
  auto executor = co_await asio::this_coro::executor;
  auto handler = [](WebSocket) -> asio::awaitable<void> {
    throw std::runtime_error("the handler failed");
    co_return;
  };
  WebSocketServer server(executor, {localhost, 0}, handler);
  std::uint16_t code = 0;
  auto client = [](unsigned short port, std::uint16_t* out, WebSocketServer* s) -> asio::awaitable<void> {
    auto websocket = co_await WebSocket::connect("127.0.0.1", std::to_string(port));
    try {
      auto message = co_await websocket.receive();
    } catch (const ConnectionClosed& e) {
      *out = e.code;
    }
    s->stop();
  };
  auto serving = server.serve();
  auto talking = client(server.port(), &code, &server);
  co_await (std::move(serving) && std::move(talking));
  co_return code;
}

asio::awaitable<std::shared_ptr<std::uint16_t>> dropped_client_closes_with() {
  auto executor = co_await asio::this_coro::executor;
  auto code = std::make_shared<std::uint16_t>(0);
  auto handler = [code](WebSocket websocket) -> asio::awaitable<void> {
    auto message = co_await websocket.receive();
    *code = message ? 1 : websocket.close_code();
  };
  WebSocketServer server(executor, {localhost, 0}, handler);
  auto client = [](unsigned short port, WebSocketServer* s) -> asio::awaitable<void> {
    {
      auto websocket = co_await WebSocket::connect("127.0.0.1", std::to_string(port));
    }  // the last handle goes: the connection says goodbye
    s->stop();  // stops accepting; the session under way runs to its end
  };
  auto serving = server.serve();
  auto talking = client(server.port(), &server);
  co_await (std::move(serving) && std::move(talking));
  co_return code;  // read once run_within() is done: the session may outlive serve()
}

}  // namespace

TEST_CASE("this client and this server echo text binary and fragments and close with a code") {
  const auto conversation = tut::test::run_within(client_and_server(), 30s);
  REQUIRE(conversation.echoes.size() == 3);
  CHECK(conversation.echoes[0] == Message{false, "hello"});
  CHECK(conversation.echoes[1] == Message{true, std::string(70'000, '\0')});
  CHECK(conversation.echoes[2] == Message{false, "fragmented into 7-byte frames, κόσμε"});
  CHECK(conversation.client_code == 4000);
  CHECK(conversation.server_code == 4000);
}

TEST_CASE("a handler that throws closes the connection with 1011") {
  CHECK(tut::test::run_within(throwing_handler_closes_with(), 30s) == 1011);
}

TEST_CASE("a client whose last handle is dropped closes with 1001") {
  const auto code = tut::test::run_within(dropped_client_closes_with(), 30s);
  CHECK(*code == 1001);
}

namespace {
asio::awaitable<std::string> http_get(std::string request) {
  auto executor = co_await asio::this_coro::executor;
  WebSocketServer server(executor, {localhost, 0}, echo);
  std::string response;
  auto client = [](unsigned short port, std::string req, std::string* out,
                   WebSocketServer* s) -> asio::awaitable<void> {
    tcp::socket socket(co_await asio::this_coro::executor);
    co_await socket.async_connect({localhost, port}, asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(req), asio::use_awaitable);
    auto reading = asio::async_read(socket, asio::dynamic_buffer(*out), no_throw);
    co_await std::move(reading);
    s->stop();
  };
  auto serving = server.serve();
  auto getting = client(server.port(), std::move(request), &response, &server);
  co_await (std::move(serving) && std::move(getting));
  co_return response;
}
}  // namespace

TEST_CASE("GET / serves the echo page and a bad upgrade gets 400") {
  const auto page = tut::test::run_within(http_get("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 30s);
  CHECK(page.starts_with("HTTP/1.1 200 OK"));
  CHECK_THAT(page, tut::test::ContainsSubstring("new WebSocket("));
  const auto refused = tut::test::run_within(
      http_get("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: abc\r\n\r\n"),
      30s);
  CHECK(refused.starts_with("HTTP/1.1 400"));
}

// start_close() and abort(), which project 029's chat server needs: its reader task is in
// receive() while its writer ends the connection.
namespace {

asio::awaitable<std::pair<std::string, std::uint16_t>> start_close_then_receive() {
  auto executor = co_await asio::this_coro::executor;
  WebSocketServer server(executor, {localhost, 0}, echo);
  auto client = [](unsigned short port, WebSocketServer* s)
      -> asio::awaitable<std::pair<std::string, std::uint16_t>> {
    auto websocket = co_await WebSocket::connect("127.0.0.1", std::to_string(port), "/echo");
    co_await websocket.send_text("before");
    websocket.start_close(status::normal, "done");
    auto first = co_await websocket.receive();   // the echo, still on its way: delivered
    auto second = co_await websocket.receive();  // the answer to our close frame
    s->stop();
    std::string seen = first ? first->data : "(none)";
    if (second) seen += " and a message after the close";
    co_return std::pair{seen, websocket.close_code()};
  };
  auto serving = server.serve();
  auto talking = client(server.port(), &server);
  co_return co_await (std::move(serving) && std::move(talking));
}

// A peer that completes the handshake, then reads nothing for a second, then reads to the end.
asio::awaitable<void> sleepy_peer(unsigned short port, WebSocketServer* server) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({localhost, port}, asio::use_awaitable);
  const std::string request = upgrade_request(random_key());
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string head, rest;
  co_await read_head(socket, head, rest);
  asio::steady_timer nap(socket.get_executor(), 1s);
  co_await nap.async_wait(asio::use_awaitable);
  auto reading = asio::async_read(socket, asio::dynamic_buffer(rest), no_throw);
  co_await std::move(reading);
  server->stop();
}

asio::awaitable<std::shared_ptr<Ended>> abort_during_a_blocked_send() {
  auto executor = co_await asio::this_coro::executor;
  auto ended = std::make_shared<Ended>();
  auto handler = [ended](WebSocket websocket) -> asio::awaitable<void> {
    auto abort_soon = [](WebSocket ws) -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
      co_await timer.async_wait(asio::use_awaitable);
      ws.abort();
    };
    auto executor_here = co_await asio::this_coro::executor;
    asio::co_spawn(executor_here, abort_soon(websocket), tut::rethrow);
    try {
      Message big{true, std::string(32 << 20, 'x')};  // more than the kernel's buffers hold
      co_await websocket.send(std::move(big));
    } catch (const ConnectionClosed& e) {
      ended->code = e.code;
      ended->reason = e.reason;
    }
  };
  Options options;
  options.max_frame = 64 << 20;
  WebSocketServer server(executor, {localhost, 0}, handler, options);
  auto serving = server.serve();
  auto peer = sleepy_peer(server.port(), &server);
  co_await (std::move(serving) && std::move(peer));
  co_return ended;
}

}  // namespace

TEST_CASE("start_close() sends the close frame and the reader gets the answer") {
  const auto [seen, code] = tut::test::run_within(start_close_then_receive(), 30s);
  CHECK(seen == "before");
  CHECK(code == 1000);
}

TEST_CASE("abort() ends a send blocked on a peer that reads nothing") {
  const auto ended = tut::test::run_within(abort_during_a_blocked_send(), 30s);
  CHECK(ended->code == 1006);
  CHECK_THAT(ended->reason, tut::test::ContainsSubstring("connection lost"));
}
