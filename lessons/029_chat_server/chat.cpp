// Project 029: the chat server's concurrency. Per client, two coroutines: read_side() (lines
// in, commands run, fan-out queued) and write_side() (the outbox out, everything queued in one
// write). Fan-out is deliver(): it never waits, so a client that reads slowly holds up only
// itself, until its outbox is full; then it is dropped with the reason. Everything runs on one
// executor, so the rooms need no lock (asyncio's rule too). The web port's accept loop is in
// chat_how_it_is_built.cpp.
#include "chat.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include "chat_how_it_is_built.hpp"
#include "compat.hpp"

namespace lesson029 {

using tut::clock;
using namespace asio::experimental::awaitable_operators;

ChatServer::ChatServer(asio::any_io_executor executor, tcp::endpoint lines, tcp::endpoint web,
                       Options options)
    : executor_(executor), line_acceptor_(executor, lines), web_acceptor_(executor, web),
      options_(std::move(options)) {}

ChatServer::~ChatServer() = default;
unsigned short ChatServer::line_port() const { return line_acceptor_.local_endpoint().port(); }
unsigned short ChatServer::web_port() const { return web_acceptor_.local_endpoint().port(); }

// ------------------------------------------------------------------------------- fan-out

void ChatServer::deliver(Client& to, std::string line) {
  if (to.outbox.is_shut_down()) return;  // leaving: its last lines are already queued
  if (to.outbox.full()) {
    // The policy for a client that cannot keep up: dropped, never waited for. Waiting here
    // (asyncio's `await writer.drain()` in the fan-out loop) would let one reader that never
    // reads stop the whole room. What it has not read is thrown away with it.
    to.gone = fmt::format("too slow: {} lines waiting", options_.max_outbox);
    to.dropped = true;
    ++stats_.too_slow;
    log(to.nick, "{}: disconnected", to.gone);
    to.outbox.shutdown(true);  // drops the queued lines: its writer ends
    to.connection->abort();    // and its reader: the read under way fails
    return;
  }
  to.outbox.try_put(std::move(line));  // never waits: there is room
}

void ChatServer::tell_room(const std::string& room, const std::string& line,
                           const Client* except) {
  auto found = rooms.find(room);
  if (found == rooms.end()) return;
  // deliver() never removes anyone from the room (a dropped client leaves when its session
  // ends), so iterating while delivering is safe.
  for (auto& [nick, member] : found->second)
    if (member != except) deliver(*member, line);
}

// ------------------------------------------------------------------------------ sessions

asio::awaitable<void> ChatServer::session(std::shared_ptr<Connection> connection) {
  ++stats_.connected;
  if (stopping_ || clients_.size() >= options_.max_clients) {
    ++stats_.refused;
    std::string why = stopping_ ? "server shutting down"
                                : fmt::format("server full ({} connections)", options_.max_clients);
    std::vector<std::string> refusal{"error: " + why + "; try again later"};
    try {
      co_await connection->write(std::move(refusal));
      co_await connection->close(1013, why);  // 1013: try again later
    } catch (const std::exception&) {
      connection->abort();
    }
    co_return;
  }
  auto client = std::make_shared<Client>(next_id_++, connection, options_.max_outbox);
  clients_[client->id] = client;
  ++stats_.active;
  welcome(*this, *client);  // a guest name, the lobby, the welcome line
  log(client->nick, "connected ({})", connection->kind());
  // The reader and the writer side by side; each ends the other's work when it ends: the
  // reader shuts the outbox down (the writer writes what is left, then closes), the writer
  // aborts the connection when a write fails (the reader's read fails). Neither throws.
  auto reading = read_side(client);
  auto writing = write_side(client);
  co_await (std::move(reading) && std::move(writing));
  leave(client);
}

asio::awaitable<void> ChatServer::read_side(std::shared_ptr<Client> client) {
  // The idle timeout: one Deadline (lesson 014) for the whole conversation, moved on by every
  // line. When it passes, read_lines() is cancelled wherever it waits, and run() throws
  // TimeoutError. stop_now() moves it to "now" to end every reader the same way.
  lesson014::Deadline idle(executor_, stopping_ ? clock::now() : clock::now() + options_.idle_timeout);
  client->idle = &idle;
  std::string bye;
  try {
    auto reading = read_lines(client);
    co_await idle.run(std::move(reading));
    if (client->quit) bye = "bye";
  } catch (const lesson014::TimeoutError&) {
    if (stopping_) {
      bye = "bye: server shutting down";
      client->close_code = 1001;  // going away
    } else {
      client->gone = fmt::format("idle for {}", tut::seconds(options_.idle_timeout));
      bye = "bye: " + client->gone;
      ++stats_.idle;
    }
  } catch (const std::exception& e) {  // reset, cancelled (the grace period is over), ...
    if (client->gone.empty()) client->gone = e.what();
  }
  client->idle = nullptr;
  if (client->gone.empty() && !client->quit && !stopping_) client->gone = "disconnected";
  if (!bye.empty()) deliver(*client, bye);
  client->outbox.shutdown();  // no more lines: the writer writes what is queued, then closes
}

asio::awaitable<void> ChatServer::read_lines(std::shared_ptr<Client> client) {
  while (client->gone.empty() && !client->quit) {
    std::optional<std::string> line;
    bool too_long = false;
    try {
      line = co_await client->connection->read_line();
    } catch (const LineTooLong&) {
      too_long = true;  // read and skipped: the client may go on
    }
    if (too_long) {
      ++stats_.too_long;
      deliver(*client, fmt::format("error: line too long (max {} bytes), not sent",
                                   options_.max_line));
      continue;
    }
    if (!line) co_return;  // the client closed the connection
    ++stats_.lines;
    client->idle->reschedule(clock::now() + options_.idle_timeout);
    handle_line(*this, *client, *line);  // a command, or tell_room(): never waits
  }
}

asio::awaitable<void> ChatServer::write_side(std::shared_ptr<Client> client) {
  bool clean = false;
  try {
    for (;;) {
      // Wait for a line, then take every line queued behind it: under load one write
      // carries many lines (one system call instead of one per line).
      std::string first = co_await client->outbox.get();  // QueueShutDown once empty and shut
      std::vector<std::string> batch{std::move(first)};
      while (!client->outbox.empty()) batch.push_back(client->outbox.try_get());
      const auto count = batch.size();
      co_await client->connection->write(std::move(batch));
      stats_.delivered += count;
    }
  } catch (const lesson010::QueueShutDown&) {
    clean = !client->dropped;  // everything queued is written (a dropped client's was thrown away)
  } catch (const std::exception&) {  // the write failed, or the session was cancelled
  }
  if (clean) {
    try {
      co_await client->connection->close(client->close_code, client->gone);
    } catch (const std::exception&) {
      clean = false;
    }
  }
  if (!clean && client->gone.empty() && !stopping_) client->gone = "connection lost";
  if (!clean) client->connection->abort();  // the reader's read fails at once
}

void ChatServer::leave(const std::shared_ptr<Client>& client) {
  std::string why = client->quit ? "quit" : client->gone;
  log(client->nick, "left ({})", stopping_ && why.empty() ? "server shutting down" : why);
  forget(*this, *client, stopping_ ? "" : why);  // the room hears why, unless all are leaving
  clients_.erase(client->id);
  --stats_.active;
}

// ------------------------------------------------------------------ accepting and stopping

asio::awaitable<void> ChatServer::accept_lines(lesson022::TaskGroup tasks) {
  for (;;) {
    auto [error, socket] = co_await line_acceptor_.async_accept(compat::as_tuple(asio::use_awaitable));
    if (stopping_ || error == asio::error::operation_aborted) co_return;
    if (error) continue;  // EMFILE and the like: the next accept may work
    socket.set_option(tcp::no_delay(true), error);
    tasks.spawn(session(tcp_connection(std::move(socket), options_)));
  }
}

void ChatServer::stop_now() {
  stopping_ = true;
  asio::error_code ignored;
  line_acceptor_.close(ignored);  // no new connections
  web_acceptor_.close(ignored);
  // Every reader's deadline passes now: each says "bye: server shutting down", and its
  // writer writes everything still queued before closing (the grace period bounds that).
  for (auto& [id, client] : clients_)
    if (client->idle) client->idle->reschedule(clock::now());
}

asio::awaitable<void> ChatServer::run(lesson022::TaskGroup tasks, lesson022::Stop stop) {
  tasks.spawn(accept_lines(tasks));
  tasks.spawn(accept_web(tasks));
  log("server", "listening: lines on port {}, web on port {}", line_port(), web_port());
  co_await stop.wait();
  log("server", "stopping: {} client(s) to say goodbye to", clients_.size());
  stop_now();
}  // the task group returns once every session has ended

asio::awaitable<void> ChatServer::serve(lesson022::Stop stop) {
  auto body = [this, stop](lesson022::TaskGroup tasks) { return run(tasks, stop); };
  co_await lesson022::with_task_group(std::move(body));
}

}  // namespace lesson029
