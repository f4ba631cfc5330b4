// How it is built: project 029's machinery, which a reader can skip: the two transports behind
// one interface (TCP lines read with a buffer of our own; WebSocket messages through lesson
// 026, with a reader task so that a read can be abandoned without breaking the connection),
// the Client record, the commands (/nick, /join, /leave, /rooms, /who, /msg, /help, /quit: plain
// C++, no coroutine), the web port (its accept loop, each request answered with the page or
// upgraded to a WebSocket session) and the page itself. The concurrency is in chat.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "chat.hpp"
#include "queue.hpp"      // lesson 010: the outbox
#include "timeouts.hpp"   // lesson 014: the idle Deadline
#include "ws.hpp"         // lesson 026: WebSocket

namespace lesson029 {

/// A line longer than Options::max_line: it was read and thrown away, whole.
struct LineTooLong : std::runtime_error {
  LineTooLong() : std::runtime_error("line too long") {}
};

/// What a session needs from a connection, whatever carries the lines.
class Connection {
 public:
  virtual ~Connection() = default;
  /// The next line (no '\n'); std::nullopt once the peer has closed. Throws LineTooLong for
  /// a line over the limit (skipped: the next call reads the line after it), and
  /// std::system_error when the connection breaks. Safe to cancel: nothing is lost.
  virtual asio::awaitable<std::optional<std::string>> read_line() = 0;
  /// Writes the lines in order (TCP: one write for all). Throws when the connection breaks.
  virtual asio::awaitable<void> write(std::vector<std::string> lines) = 0;
  /// After the last write: a clean end (TCP: FIN; WebSocket: a close frame with `code`),
  /// waiting at most close_timeout for the peer to close too.
  virtual asio::awaitable<void> close(std::uint16_t code, std::string reason) = 0;
  /// Closes at once: reads and writes under way fail.
  virtual void abort() = 0;
  virtual const char* kind() const = 0;  ///< "tcp" or "websocket"
};

std::shared_ptr<Connection> tcp_connection(tcp::socket socket, const Options& options);
/// Starts the connection's reader task (it ends when the WebSocket does).
std::shared_ptr<Connection> websocket_connection(asio::any_io_executor executor,
                                                 lesson026::WebSocket websocket,
                                                 const Options& options);

/// One person in the chat: their name, room, outbox and connection.
struct Client {
  Client(std::uint64_t number, std::shared_ptr<Connection> c, std::size_t max_outbox)
      : id(number), connection(std::move(c)), outbox(max_outbox) {}
  std::uint64_t id;
  std::string nick;  // unique ("guest<id>" until /nick)
  std::string room;  // "" when in none
  std::shared_ptr<Connection> connection;
  lesson010::Queue<std::string> outbox;      // lines waiting to be written, at most max_outbox
  lesson014::Deadline* idle = nullptr;       // while its reader runs: the idle deadline
  std::string gone;                          // why the server dropped it ("" while it is fine)
  std::uint16_t close_code = 1000;           // the WebSocket close code of its goodbye
  bool quit = false;                         // it sent /quit
  bool dropped = false;                      // too slow: its outbox was thrown away
};

/// Registers a new client (nickname "guest<id>", room "lobby") and queues the welcome.
void welcome(ChatServer& server, Client& client);
/// One line from `client`: a command or something to say in its room. Plain C++.
void handle_line(ChatServer& server, Client& client, const std::string& line);
/// Takes `client` out of its room and the nickname list; tells the room `why` if not empty.
void forget(ChatServer& server, Client& client, const std::string& why);

/// The page GET / serves: a small chat client whose script speaks the line protocol over a
/// WebSocket. Query parameters, for people and for the browser test: ?nick=NAME sets the
/// nickname on connect, &room=ROOM joins it, &say=TEXT says TEXT (at once, or with
/// &when=NICK once NICK is in the room), &answer=1 answers the first line said in the room
/// with "saw: <that line>".
std::string chat_page();
/// HTTP on the web port: GET / (the page), an upgrade (the WebSocket, returned), else 404.
asio::awaitable<std::optional<lesson026::WebSocket>> http_or_upgrade(tcp::socket socket,
                                                                     Options options);

}  // namespace lesson029
