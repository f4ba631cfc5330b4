// How it is built: project 029's machinery (see chat_how_it_is_built.hpp). A reader can skip
// it: the transports, the commands, the HTTP side of the web port and the page.
#include "chat_how_it_is_built.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "run.hpp"
#include "ws_how_it_is_built.hpp"  // lesson 026: read_head(), parse_head()

namespace lesson029 {

namespace {

constexpr auto no_throw = compat::as_tuple(asio::use_awaitable);

// Reads until the peer closes, to drop what it still sends (used after our FIN).
asio::awaitable<void> read_until_closed(tcp::socket* socket) {
  std::array<char, 4096> scratch;
  for (;;) {
    auto [error, n] = co_await socket->async_read_some(asio::buffer(scratch), no_throw);
    if (error) co_return;
  }
}

// ------------------------------------------------------------------------------- TCP lines

class TcpConnection final : public Connection {
 public:
  TcpConnection(tcp::socket socket, const Options& options)
      : socket_(std::move(socket)), max_line_(options.max_line),
        close_timeout_(options.close_timeout) {}

  asio::awaitable<std::optional<std::string>> read_line() override {
    // Our own buffer (no async_read_until per line): one read brings many lines under load,
    // and a line over the limit is skipped up to its '\n' instead of ending the connection.
    for (;;) {
      const auto newline = buffer_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(start_, newline - start_);
        const bool skipped = skipping_;
        start_ = scanned_ = newline + 1;
        skipping_ = false;
        if (!line.empty() && line.back() == '\r') line.pop_back();  // telnet sends "\r\n"
        if (skipped || line.size() > max_line_) throw LineTooLong();
        co_return line;
      }
      if (eof_) {  // a last line without '\n' is still a line (nc sends one at EOF)
        std::string rest = buffer_.substr(start_);
        const bool skipped = skipping_;
        buffer_.clear();
        start_ = scanned_ = 0;
        skipping_ = false;
        if (rest.empty() && !skipped) co_return std::nullopt;
        if (skipped || rest.size() > max_line_) throw LineTooLong();
        co_return rest;
      }
      buffer_.erase(0, start_);  // keep only the partial line
      start_ = 0;
      scanned_ = buffer_.size();
      if (buffer_.size() > max_line_ + 1) {  // no '\n' in sight: skip this line
        skipping_ = true;
        buffer_.clear();
        scanned_ = 0;
      }
      auto [error, n] = co_await socket_.async_read_some(asio::buffer(chunk_), no_throw);
      buffer_.append(chunk_.data(), n);
      if (error == asio::error::eof) eof_ = true;
      else if (error) throw std::system_error(error);
    }
  }

  asio::awaitable<void> write(std::vector<std::string> lines) override {
    out_.clear();
    for (const auto& line : lines) (out_ += line) += '\n';
    co_await asio::async_write(socket_, asio::buffer(out_), asio::use_awaitable);
  }

  asio::awaitable<void> close(std::uint16_t, std::string) override {
    // FIN after the last line, then wait (briefly) for the client to close too: closing a
    // socket with unread input sends a reset, which can destroy the lines just written.
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    try {
      auto draining = read_until_closed(&socket_);
      co_await lesson014::with_timeout(std::move(draining), close_timeout_);
    } catch (const std::exception&) {  // TimeoutError: close anyway
    }
    socket_.close(ignored);
  }

  void abort() override {
    asio::error_code ignored;
    socket_.close(ignored);
  }
  const char* kind() const override { return "tcp"; }

 private:
  tcp::socket socket_;
  std::size_t max_line_;
  milliseconds close_timeout_;
  std::string buffer_, out_;
  std::size_t start_ = 0, scanned_ = 0;  // the next line starts at start_; no '\n' before scanned_
  bool skipping_ = false, eof_ = false;
  std::array<char, 16384> chunk_;
};

// ------------------------------------------------------------------------- WebSocket lines

class WsConnection final : public Connection {
 public:
  WsConnection(asio::any_io_executor executor, lesson026::WebSocket websocket,
               const Options& options)
      : websocket_(websocket), max_line_(options.max_line), close_timeout_(options.close_timeout),
        pump_ended_(executor) {}

  // The reader task: lesson 026's receive() may not be cancelled without failing the
  // connection, so one task receives all along and the session reads from `inbox_`, a read
  // it may abandon (the idle deadline) with nothing lost.
  static asio::awaitable<void> pump(std::shared_ptr<WsConnection> self) {
    try {
      for (;;) {
        auto message = co_await self->websocket_.receive();
        if (!message) break;  // the closing handshake is done
        std::string text = message->data;
        std::size_t start = 0;
        for (;;) {  // one message may hold several lines
          const auto newline = text.find('\n', start);
          std::string line = text.substr(start, newline == std::string::npos ? newline : newline - start);
          std::optional<std::string> item;  // empty: too long
          if (line.size() <= self->max_line_ && !message->binary) item = std::move(line);
          co_await self->inbox_.put(std::move(item));  // waits while the session is behind
          if (newline == std::string::npos) break;
          start = newline + 1;
        }
      }
    } catch (const std::exception&) {  // ConnectionClosed, or the inbox was shut down
    }
    self->inbox_.shutdown();
    self->ended_ = true;
    self->pump_ended_.cancel();
  }

  asio::awaitable<std::optional<std::string>> read_line() override {
    std::optional<std::string> item;
    bool ended = false;
    try {
      item = co_await inbox_.get();
    } catch (const lesson010::QueueShutDown&) {
      ended = true;
    }
    if (ended) co_return std::nullopt;
    if (!item) throw LineTooLong();
    co_return item;
  }

  asio::awaitable<void> write(std::vector<std::string> lines) override {
    for (auto& line : lines) co_await websocket_.send_text(std::move(line));
  }

  asio::awaitable<void> close(std::uint16_t code, std::string reason) override {
    // The close frame goes out behind the lines already sent; the pump receives the answer.
    websocket_.start_close(code, reason.substr(0, 120));
    if (!ended_) {
      pump_ended_.expires_after(close_timeout_);
      co_await pump_ended_.async_wait(no_throw);
    }
    if (!ended_) abort();  // the peer did not answer in time
  }

  void abort() override {
    websocket_.abort();
    inbox_.shutdown(true);
  }
  const char* kind() const override { return "websocket"; }

 private:
  lesson026::WebSocket websocket_;
  std::size_t max_line_;
  milliseconds close_timeout_;
  lesson010::Queue<std::optional<std::string>> inbox_{64};
  bool ended_ = false;
  asio::steady_timer pump_ended_;  // cancelled by the pump when it ends
};

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 20) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
}

std::string names(const std::map<std::string, Client*>& members) {
  std::string text;
  for (const auto& [nick, client] : members) text += (text.empty() ? "" : ", ") + nick;
  return text;
}

void join_room(ChatServer& server, Client& client, const std::string& room) {
  server.tell_room(room, fmt::format("* {} joined #{}", client.nick, room), &client);
  auto& members = server.rooms[room];
  members[client.nick] = &client;
  client.room = room;
  server.deliver(client, fmt::format("* you are in #{} ({} here: {})", room, members.size(),
                                     names(members)));
}

void leave_room(ChatServer& server, Client& client, const std::string& why) {
  if (client.room.empty()) return;
  auto found = server.rooms.find(client.room);
  found->second.erase(client.nick);
  if (found->second.empty()) {
    server.rooms.erase(found);
  } else {
    const std::string because = why.empty() ? "" : " (" + why + ")";
    server.tell_room(client.room, fmt::format("* {} left #{}{}", client.nick, client.room, because),
                     &client);
  }
  client.room.clear();
}

const char* const help_lines[] = {
    "* commands:",
    "*   /nick NAME       change your nickname (letters, digits, _ and -, up to 20)",
    "*   /join ROOM       leave your room and join ROOM (created if new)",
    "*   /leave           leave your room",
    "*   /rooms           list the rooms and how many are in each",
    "*   /who             list who is in your room",
    "*   /msg NICK TEXT   a private message to NICK",
    "*   /quit            leave the chat",
    "*   anything else is said in your room",
};

}  // namespace

std::shared_ptr<Connection> tcp_connection(tcp::socket socket, const Options& options) {
  asio::error_code ignored;
  if (options.send_buffer > 0)
    socket.set_option(asio::socket_base::send_buffer_size(static_cast<int>(options.send_buffer)), ignored);
  return std::make_shared<TcpConnection>(std::move(socket), options);
}

std::shared_ptr<Connection> websocket_connection(asio::any_io_executor executor,
                                                 lesson026::WebSocket websocket,
                                                 const Options& options) {
  auto connection = std::make_shared<WsConnection>(executor, websocket, options);
  asio::co_spawn(executor, WsConnection::pump(connection), tut::rethrow);
  return connection;
}

void welcome(ChatServer& server, Client& client) {
  client.nick = fmt::format("guest{}", client.id);
  while (server.nicks.count(client.nick)) client.nick += "_";  // someone took it with /nick
  server.nicks[client.nick] = &client;
  server.deliver(client, fmt::format("* welcome, {}! /nick NAME picks a name, /help lists the "
                                     "commands", client.nick));
  if (!server.options().lobby.empty()) join_room(server, client, server.options().lobby);
}

void handle_line(ChatServer& server, Client& client, const std::string& line) {
  if (line.empty()) return;
  if (line[0] != '/') {
    if (client.room.empty())
      server.deliver(client, "error: you are in no room; /join ROOM first");
    else
      server.tell_room(client.room, fmt::format("[#{}] {}: {}", client.room, client.nick, line),
                       &client);
    return;
  }
  const auto space = line.find(' ');
  const std::string command = line.substr(0, space);
  std::string argument = space == std::string::npos ? "" : line.substr(space + 1);
  while (!argument.empty() && argument.front() == ' ') argument.erase(0, 1);
  while (!argument.empty() && argument.back() == ' ') argument.pop_back();

  if (command == "/help") {
    for (const char* help : help_lines) server.deliver(client, help);
  } else if (command == "/nick") {
    if (!valid_name(argument)) {
      server.deliver(client, "error: a nickname is 1 to 20 letters, digits, _ or -");
    } else if (server.nicks.count(argument)) {
      server.deliver(client, fmt::format("error: {} is taken", argument));
    } else {
      const std::string old = client.nick;
      server.nicks.erase(old);
      server.nicks[argument] = &client;
      client.nick = argument;
      if (!client.room.empty()) {
        auto& members = server.rooms[client.room];
        members.erase(old);
        members[argument] = &client;
        server.tell_room(client.room, fmt::format("* {} is now {}", old, argument), &client);
      }
      server.deliver(client, fmt::format("* you are now {}", argument));
    }
  } else if (command == "/join") {
    std::string room = argument.starts_with("#") ? argument.substr(1) : argument;
    if (!valid_name(room)) {
      server.deliver(client, "error: a room name is 1 to 20 letters, digits, _ or -");
    } else if (room == client.room) {
      server.deliver(client, fmt::format("* you are already in #{}", room));
    } else {
      leave_room(server, client, "");
      join_room(server, client, room);
    }
  } else if (command == "/leave") {
    if (client.room.empty()) {
      server.deliver(client, "error: you are in no room");
    } else {
      const std::string room = client.room;
      leave_room(server, client, "");
      server.deliver(client, fmt::format("* you left #{}; /join ROOM to talk again", room));
    }
  } else if (command == "/rooms") {
    std::string list;
    for (const auto& [room, members] : server.rooms)
      list += fmt::format("{}#{} ({})", list.empty() ? "" : ", ", room, members.size());
    server.deliver(client, list.empty() ? "* no rooms; /join ROOM opens one" : "* rooms: " + list);
  } else if (command == "/who") {
    if (client.room.empty())
      server.deliver(client, "error: you are in no room");
    else
      server.deliver(client, fmt::format("* in #{}: {}", client.room, names(server.rooms[client.room])));
  } else if (command == "/msg") {
    const auto gap = argument.find(' ');
    const std::string to = argument.substr(0, gap);
    const std::string text = gap == std::string::npos ? "" : argument.substr(gap + 1);
    auto found = server.nicks.find(to);
    if (to.empty() || text.empty()) {
      server.deliver(client, "error: /msg NICK TEXT");
    } else if (found == server.nicks.end()) {
      server.deliver(client, fmt::format("error: nobody is called {}", to));
    } else {
      server.deliver(*found->second, fmt::format("[pm] {}: {}", client.nick, text));
      server.deliver(client, fmt::format("[pm to {}] {}", to, text));
    }
  } else if (command == "/quit") {
    client.quit = true;
  } else {
    server.deliver(client, fmt::format("error: unknown command {}; /help lists them", command));
  }
}

void forget(ChatServer& server, Client& client, const std::string& why) {
  leave_room(server, client, why);
  auto found = server.nicks.find(client.nick);
  if (found != server.nicks.end() && found->second == &client) server.nicks.erase(found);
}

// ------------------------------------------------------------------------ the web port

asio::awaitable<void> ChatServer::accept_web(lesson022::TaskGroup tasks) {
  for (;;) {
    auto [error, socket] = co_await web_acceptor_.async_accept(no_throw);
    if (stopping_ || error == asio::error::operation_aborted) co_return;
    if (!error) tasks.spawn(web_request(std::move(socket), tasks));
  }
}

asio::awaitable<void> ChatServer::web_request(tcp::socket socket, lesson022::TaskGroup tasks) {
  // GET / is answered with the page; an upgrade becomes a chat session like any other.
  std::optional<lesson026::WebSocket> websocket;
  try {
    websocket = co_await http_or_upgrade(std::move(socket), options_);
  } catch (const std::exception&) {  // left during the request, or not HTTP
  }
  if (!websocket) co_return;
  if (!stopping_) {
    try {
      tasks.spawn(session(websocket_connection(executor_, *websocket, options_)));
      co_return;
    } catch (const std::exception&) {  // the group is shutting down
    }
  }
  websocket->abort();  // its writer and keepalive (lesson 026's tasks) end with it
}

asio::awaitable<std::optional<lesson026::WebSocket>> http_or_upgrade(tcp::socket socket,
                                                                     Options options) {
  std::string head, rest;
  auto reading = lesson026::read_head(socket, head, rest);
  co_await lesson014::with_timeout(std::move(reading), std::chrono::seconds(10));
  const auto request = lesson026::parse_head(head);
  if (request && request->has_token("upgrade", "websocket")) {
    lesson026::Options websocket_options;
    websocket_options.max_message = std::max<std::size_t>(65536, 4 * options.max_line);
    websocket_options.close_timeout = options.close_timeout;
    auto websocket = co_await lesson026::WebSocket::accept(std::move(socket), head, rest,
                                                           websocket_options);
    co_return websocket;
  }
  const bool page = request && (request->first_line.starts_with("GET / ") ||
                                request->first_line.starts_with("GET /?"));
  const std::string body = page ? chat_page() : "not found\n";
  const std::string response = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}; charset=utf-8\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}", page ? "200 OK" : "404 Not Found",
      page ? "text/html" : "text/plain", body.size(), body);
  co_await asio::async_write(socket, asio::buffer(response), no_throw);
  asio::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  co_return std::nullopt;
}

std::string chat_page() {
  return R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>chat (project 029)</title>
<style>
body { font-family: sans-serif; max-width: 50em; margin: 1em auto; }
#log { height: 70vh; overflow-y: auto; border: 1px solid #ccc; padding: .5em; white-space: pre-wrap; }
#line { width: 80%; }
</style></head>
<body><p id="status">connecting</p><div id="log"></div>
<form id="form"><input id="line" autocomplete="off" autofocus placeholder="say something, or /help">
<button>send</button></form>
<script>
const params = new URLSearchParams(location.search);
const log = document.getElementById("log");
const ws = new WebSocket("ws://" + location.host + "/chat");
let answered = false, said = false;
function show(text) {
  const line = document.createElement("div");
  line.textContent = text;
  log.appendChild(line);
  log.scrollTop = log.scrollHeight;
}
ws.onopen = () => {
  document.getElementById("status").textContent = "connected";
  if (params.get("nick")) ws.send("/nick " + params.get("nick"));
  if (params.get("room")) ws.send("/join " + params.get("room"));
  if (params.get("say") && !params.get("when")) { said = true; ws.send(params.get("say")); }
};
ws.onmessage = (event) => {
  show(event.data);
  const when = params.get("when");
  if (when && !said && event.data.startsWith("* ") && event.data.includes(when)) {
    said = true;
    ws.send(params.get("say"));
  }
  if (params.get("answer") && !answered && /^\[#[^\]]+\] [^:]+: /.test(event.data)) {
    answered = true;
    ws.send("saw: " + event.data);
  }
};
ws.onclose = (event) => {
  document.getElementById("status").textContent = "closed: " + event.code + " " + event.reason;
};
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("line");
  if (input.value === "") return;
  ws.send(input.value);
  if (!input.value.startsWith("/")) show("(you) " + input.value);
  input.value = "";
};
</script></body></html>
)";
}

}  // namespace lesson029
