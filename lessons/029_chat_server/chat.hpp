// Project 029: a chat server, a whole program built from the lessons. People connect with `nc`
// or `telnet` (one line per message) or with a browser (the page the server serves talks the
// same lines over a WebSocket, lesson 026), pick a nickname, join rooms, talk, send private
// messages. The asyncio version would be
//
//     async def handle(reader, writer):            # asyncio.start_server(handle, host, port)
//         client = Client(writer); rooms["lobby"].add(client)
//         while line := await reader.readline(): dispatch(client, line)
//     def say(room, line):
//         for c in rooms[room]: c.writer.write(line)   # never awaits drain(): one slow reader
//                                                      # must not hold up the room
//
// and the C++ follows it, with the parts asyncio leaves to you made explicit:
// - Fan-out never waits: each client has a bounded outbox (lesson 010's Queue) and a writer
//   coroutine that sends everything queued in one write. The policy for a client that cannot
//   keep up: when its outbox is full it is disconnected, and its room is told why. asyncio's
//   writer.write() buffers without limit unless you check get_write_buffer_size() yourself.
// - Each client has an idle timeout (lesson 014's Deadline, moved on by every line it sends),
//   a line length limit and a limit on connections, each with a clear message.
// - The server is lesson 022's Service: run_service() turns SIGINT/SIGTERM into a Stop; every
//   client is told "bye: server shutting down", its outbox is written to the end, and only
//   what is still running when the grace period ends is cancelled.
// The transports (TCP lines, WebSocket messages), the commands and the page are machinery:
// chat_how_it_is_built.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <fmt/format.h>

#include "log.hpp"
#include "shutdown.hpp"  // lesson 022: TaskGroup, Stop, run_service

namespace lesson029 {

using asio::ip::tcp;
using std::chrono::milliseconds;

struct Options {
  std::size_t max_line = 1000;     ///< bytes in a line (a WebSocket message); longer: refused
  std::size_t max_outbox = 1000;   ///< lines waiting for one client; one more: it is dropped
  std::size_t max_clients = 2000;  ///< connections at once (TCP and WebSocket together)
  milliseconds idle_timeout = std::chrono::minutes(10);  ///< nothing sent for this long: closed
  milliseconds close_timeout = std::chrono::seconds(2);  ///< a goodbye's wait for the peer
  std::string lobby = "lobby";  ///< the room a new client starts in ("": none)
  std::size_t send_buffer = 0;  ///< SO_SNDBUF of TCP clients; 0: the kernel's (demo, tests)
  /// Where the server's log lines go, as (task, message); {} for none (benchmarks).
  std::function<void(std::string_view, std::string_view)> log = tut::log_line;
};

struct Stats {
  std::uint64_t connected = 0, active = 0;  ///< connections accepted; clients now
  std::uint64_t lines = 0;                  ///< lines received
  std::uint64_t delivered = 0;              ///< lines written to clients (all kinds)
  std::uint64_t too_slow = 0, too_long = 0, idle = 0, refused = 0;
};

struct Client;      // one person: name, room, outbox, connection (chat_how_it_is_built.hpp)
class Connection;   // a TCP or WebSocket connection, read and written line by line

class ChatServer {
 public:
  /// Listens at once: the line protocol on `lines`, the page and WebSockets on `web`.
  ChatServer(asio::any_io_executor executor, tcp::endpoint lines, tcp::endpoint web,
             Options options = {});
  ~ChatServer();
  unsigned short line_port() const;
  unsigned short web_port() const;

  /// A lesson022::Service: serves until `stop` is requested, then says goodbye to everyone,
  /// writes what is queued and returns when every client is gone. Spawns into `tasks`.
  asio::awaitable<void> run(lesson022::TaskGroup tasks, lesson022::Stop stop);
  /// run() in a task group of its own (tests, the demo): returns once stopped and empty.
  asio::awaitable<void> serve(lesson022::Stop stop);
  const Stats& stats() const { return stats_; }

  // The chat itself (chat.cpp), called by the commands (chat_how_it_is_built.cpp).
  void deliver(Client& to, std::string line);  ///< queue a line, or drop a client too slow
  void tell_room(const std::string& room, const std::string& line, const Client* except);
  template <typename... Args>
  void log(std::string_view task, fmt::format_string<Args...> format, Args&&... args) {
    if (options_.log) options_.log(task, fmt::format(format, std::forward<Args>(args)...));
  }
  const Options& options() const { return options_; }
  std::map<std::string, std::map<std::string, Client*>> rooms;  ///< room -> nick -> client
  std::map<std::string, Client*> nicks;                         ///< everyone, by nickname

 private:
  asio::awaitable<void> accept_lines(lesson022::TaskGroup tasks);
  asio::awaitable<void> accept_web(lesson022::TaskGroup tasks);
  asio::awaitable<void> web_request(tcp::socket socket, lesson022::TaskGroup tasks);
  asio::awaitable<void> session(std::shared_ptr<Connection> connection);
  asio::awaitable<void> read_side(std::shared_ptr<Client> client);
  asio::awaitable<void> read_lines(std::shared_ptr<Client> client);
  asio::awaitable<void> write_side(std::shared_ptr<Client> client);
  void leave(const std::shared_ptr<Client>& client);
  void stop_now();

  asio::any_io_executor executor_;
  tcp::acceptor line_acceptor_, web_acceptor_;
  Options options_;
  Stats stats_;
  std::map<std::uint64_t, std::shared_ptr<Client>> clients_;  // the connected ones
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
};

}  // namespace lesson029
