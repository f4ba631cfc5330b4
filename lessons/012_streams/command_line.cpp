// How it is built: the lesson program's `--serve` and `--connect` modes (command_line.hpp),
// which a learner can skip at this lesson: argument parsing, a log that never blocks the
// event loop, SIGPIPE, and stdin as one more asynchronous stream.
#include "command_line.hpp"

#include <array>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"
#include "streams.hpp"

namespace lesson012 {

namespace {
constexpr auto no_throw = compat::as_tuple(asio::use_awaitable);

// stdin -> server, as it comes: no line length limit, a last line without '\n' is sent
// as it is. At end of input, half-close (the server then finishes and closes its side).
asio::awaitable<void> send_input(asio::posix::stream_descriptor* input, LineClient* client,
                                 bool* input_done) {
  std::array<char, 64 * 1024> chunk;
  for (;;) {
    auto [error, n] = co_await input->async_read_some(asio::buffer(chunk), no_throw);
    if (error == asio::error::operation_aborted) co_return;  // the server went away
    if (error) {  // end of input (or an unreadable stdin): nothing more to send
      if (error != asio::error::eof)
        fmt::print(stderr, "cannot read standard input: {}\n", error.message());
      *input_done = true;
      asio::error_code ignored;
      client->socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    auto [write_error, written] =
        co_await asio::async_write(client->socket(), asio::buffer(chunk.data(), n), no_throw);
    if (write_error) co_return;  // print_replies() reports why
  }
}

// server -> print, until the server closes; then stop reading stdin.
asio::awaitable<void> print_replies(LineClient* client, asio::posix::stream_descriptor* input,
                                    std::function<void(std::string_view)> print,
                                    const bool* input_done, bool* failed) {
  try {
    while (auto line = co_await client->read_line()) print(*line);
    if (!*input_done) {  // it closed while we still had input to send
      fmt::print(stderr, "the server closed the connection\n");
      *failed = true;
    }
  } catch (const std::system_error& e) {
    fmt::print(stderr, "connection lost: {}\n", e.code().message());
    *failed = true;
  }
  asio::error_code ignored;
  input->cancel(ignored);  // send_input() stops waiting for stdin
}

// Asio makes a descriptor non-blocking (O_NONBLOCK) to wait for it. That flag belongs to the
// "open file description", which dup() shares: the shell's terminal would stay non-blocking
// after we exit, and the next program to read it would fail with EAGAIN. Opening the same
// file again through /proc gives us a description of our own. (A socket cannot be reopened:
// then share it, and put its flags back when done.)
int open_own_copy(int fd) {
  auto path = fmt::format("/proc/self/fd/{}", fd);
  int own = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return own >= 0 ? own : ::dup(fd);
}
}  // namespace

asio::awaitable<int> interactive_client(std::string host, std::string port, int input_fd,
                                        std::function<void(std::string_view)> print) {
  auto executor = co_await asio::this_coro::executor;
  std::optional<LineClient> client;
  try {
    client.emplace(co_await LineClient::connect(host, port));
  } catch (const std::exception& e) {  // cannot resolve or connect, or an invalid port
    fmt::print(stderr, "{}\n", e.what());
    co_return 1;
  }
  // A stream_descriptor makes stdin one more asynchronous stream on the io_context, so one
  // thread waits for the keyboard and the network at once. It closes its own copy.
  int flags = ::fcntl(input_fd, F_GETFL);
  asio::posix::stream_descriptor input(executor, open_own_copy(input_fd));
  bool input_done = false;
  bool failed = false;
  using namespace asio::experimental::awaitable_operators;
  auto sending = send_input(&input, &*client, &input_done);
  auto receiving = print_replies(&*client, &input, std::move(print), &input_done, &failed);
  co_await (std::move(sending) && std::move(receiving));  // both directions at once
  if (flags != -1) ::fcntl(input_fd, F_SETFL, flags);     // in case it was shared
  co_return failed ? 1 : 0;
}

int usage(int status) {
  auto* out = status == 0 ? stdout : stderr;
  fmt::print(out,
             "usage: 012_streams                   a demonstration: a server, six clients, a\n"
             "                                     broadcast, Ctrl-C; then two writers on one\n"
             "                                     socket, without and with a write queue\n"
             "       012_streams --serve [--host A] [--port P] [--max-line N] [--idle-timeout S]\n"
             "                           [--grace S]\n"
             "                                     an echo server until Ctrl-C (or SIGTERM); a\n"
             "                                     second Ctrl-C closes the remaining sessions\n"
             "                                     at once. Defaults: host 127.0.0.1 (an IPv4 or\n"
             "                                     IPv6 address: ::1, 0.0.0.0, ::), port 0 = any\n"
             "                                     free port, max line 65536 bytes, idle timeout\n"
             "                                     60 s (nothing sent, or echoes not read), grace\n"
             "                                     2 s for echoes under way at Ctrl-C;\n"
             "                                     try it with: nc 127.0.0.1 P\n"
             "       012_streams --connect HOST PORT\n"
             "                                     an interactive client (HOST may be [::1]):\n"
             "                                     stdin goes to the server, its replies are\n"
             "                                     printed; exits 1 if the server closes first\n"
             "       012_streams --help            this text\n");
  return status;
}

namespace {
std::optional<unsigned long> number(std::string_view text, unsigned long max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  auto value = std::strtoul(std::string(text).c_str(), nullptr, 10);
  if (value > max || text.size() > 12) return std::nullopt;
  return value;
}

/// --serve's stdout. The server logs every connection; if it printed on the event loop's
/// thread, a stdout that nobody reads (a full pipe, a terminal on hold) would freeze every
/// client. So lines go into a queue, and a thread of their own writes them out. If stdout
/// is not read, the queue stops growing at 1000 lines: the rest is dropped, and counted.
class BackgroundLog {
 public:
  BackgroundLog() { std::thread([this] { write_lines(); }).detach(); }

  void add(std::string line) {
    std::lock_guard lock(mutex_);
    if (lines_.size() >= 1000) {
      ++dropped_;
      return;
    }
    lines_.push_back(std::move(line));
    changed_.notify_all();
  }

  /// At exit: waits for the queue to be written, at most `limit` (stdout may never be read).
  void flush(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [this] { return lines_.empty() && !writing_; });
  }

 private:
  void write_lines() {  // the writer thread; it may block in write() for ever
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !lines_.empty(); });
      std::string text = std::move(lines_.front());
      lines_.pop_front();
      if (dropped_ > 0) text += fmt::format("({} log line(s) dropped: stdout was not read)\n",
                                            std::exchange(dropped_, 0));
      writing_ = true;
      lock.unlock();
      for (std::string_view left = text; !left.empty();) {
        auto n = ::write(STDOUT_FILENO, left.data(), left.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // e.g. EPIPE: nobody reads any more (SIGPIPE is ignored)
        left.remove_prefix(static_cast<std::size_t>(n));
      }
      lock.lock();
      writing_ = false;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> lines_;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
};
}  // namespace

int serve_main(std::vector<std::string_view> args) {
  std::string host = "127.0.0.1";
  unsigned long port = 0;
  ServerOptions options;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    auto flag = args[i];
    std::optional<unsigned long> value;
    bool known = flag == "--host" || flag == "--port" || flag == "--max-line" ||
                 flag == "--idle-timeout" || flag == "--grace";
    if (!known) {
      fmt::print(stderr, "012_streams: unknown option '{}'\n", flag);
      return usage(2);
    }
    if (i + 1 >= args.size()) {
      fmt::print(stderr, "012_streams: {} needs a value\n", flag);
      return 2;
    }
    if (flag == "--host") {
      host = args[i + 1];
      continue;
    }
    if (flag == "--port") value = number(args[i + 1], 65535);
    if (flag == "--max-line") value = number(args[i + 1], 1ul << 30);
    if (flag == "--idle-timeout" || flag == "--grace") value = number(args[i + 1], 86400);
    if (!value || (flag != "--port" && flag != "--grace" && *value == 0)) {
      fmt::print(stderr, "012_streams: {} needs a number ({})\n", flag,
                 flag == "--port" ? "0-65535" : flag == "--max-line" ? "bytes, > 0"
                                 : flag == "--grace"                 ? "seconds"
                                                                     : "seconds, > 0");
      return 2;
    }
    if (flag == "--port") port = *value;
    if (flag == "--max-line") options.max_line = *value;
    if (flag == "--idle-timeout") options.idle_timeout = std::chrono::seconds(*value);
    if (flag == "--grace") options.shutdown_grace = std::chrono::seconds(*value);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  asio::error_code bad_address;
  auto address = asio::ip::make_address(host, bad_address);
  if (bad_address) {
    fmt::print(stderr, "012_streams: --host needs an IPv4 or IPv6 address, not '{}'\n", host);
    return 2;
  }

  // A write to a pipe whose reader has gone (`--serve | head -n 1`) would kill the process
  // with SIGPIPE; ignored, it fails with EPIPE instead and the server goes on.
  std::signal(SIGPIPE, SIG_IGN);
  auto* log = new BackgroundLog;  // never deleted: its thread may be stuck in write() at exit
  options.log = [log](std::string_view task, std::string_view message) {
    log->add(fmt::format("[{:>5}] {:<9} {}\n", tut::seconds(tut::elapsed()), task, message));
  };

  // One thread runs this io_context; the default (locking) concurrency hint keeps stop()
  // callable from any other thread, as EchoServer documents. (Lesson 020 measures what
  // io_context(ASIO_CONCURRENCY_HINT_UNSAFE) would save, and why this server cannot use it.)
  asio::io_context io_context(1);
  std::optional<EchoServer> server;
  auto shown = address.is_v6() ? fmt::format("[{}]", host) : host;
  try {
    tcp::endpoint where(address, static_cast<unsigned short>(port));
    server.emplace(io_context.get_executor(), where, options);
  } catch (const std::system_error& e) {
    fmt::print(stderr, "012_streams: cannot listen on {}:{}: {}\n", shown, port,
               e.code().message());
    return 1;
  }
  log->add(fmt::format("listening on {}:{} (max line {} bytes, idle timeout {}); "
                       "try: nc {} {}; Ctrl-C stops\n",
                       shown, server->port(), options.max_line,
                       tut::seconds(options.idle_timeout), host, server->port()));
  asio::co_spawn(io_context, server->serve(), tut::rethrow);
  asio::co_spawn(io_context, server->stop_on_signals(), tut::rethrow);
  io_context.run();  // returns by itself once the server has shut down
  log->add(fmt::format("stopped: {} connections, {} lines echoed\n", server->stats().accepted,
                       server->stats().lines_echoed));
  log->flush(std::chrono::seconds(2));
  return 0;
}

int connect_main(std::string host, std::string port) {
  asio::io_context io_context(1);
  auto print = [](std::string_view line) {
    fmt::print("{}", line);
    std::fflush(stdout);
  };
  tut::Completion<int> status;
  tut::spawn_into(io_context, interactive_client(host, port, STDIN_FILENO, print), status);
  io_context.run();
  return status.take();
}

}  // namespace lesson012
