// How it is built: libpq's asynchronous API driven by Asio, and a throwaway PostgreSQL server
// (see postgres.hpp). A learner can skip this file at lesson 028; waiting on a descriptor that
// another library owns is lesson 018's subject, cancellation lesson 005's.
#include "postgres.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <asio/error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace lesson028 {

namespace fs = std::filesystem;
using wait_type = asio::posix::stream_descriptor::wait_type;

namespace {

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string message_of(PGconn* conn) { return trimmed(PQerrorMessage(conn)); }

// Is there something to read right now? poll() with a zero timeout never blocks. Only
// check_alive() needs to ask: an async_wait(wait_read) is a wait for readiness, not for new
// bytes, so it completes at once when bytes are already waiting (on Linux Asio re-arms the
// descriptor with epoll_ctl for every wait, which reports them), and a loop that waits before
// each PQconsumeInput needs no look of its own.
bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// libpq's socket wrapped for one wait of PQconnectPoll's loop, then released (never closed:
// libpq owns it).
struct Borrowed {
  asio::posix::stream_descriptor descriptor;
  Borrowed(asio::any_io_executor executor, int fd) : descriptor(std::move(executor), fd) {}
  ~Borrowed() { descriptor.release(); }
};

}  // namespace

std::string Result::scalar() const {
  if (rows.empty() || rows[0].empty() || !rows[0][0]) throw PgError("no value in the result");
  return *rows[0][0];
}

// ------------------------------------------------------------------------- Connection

asio::awaitable<std::unique_ptr<Connection>> Connection::open(std::string conninfo) {
  auto executor = co_await asio::this_coro::executor;
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectStart(conninfo.c_str()), &PQfinish);
  if (!conn) throw std::bad_alloc();
  if (PQstatus(conn.get()) == CONNECTION_BAD) throw PgError(message_of(conn.get()));
  // PQconnectPoll says what to wait for next. The socket may change between polls (libpq
  // tries each address in turn, and again without SSL), so it is wrapped afresh each time.
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) throw PgError(message_of(conn.get()));
    const int fd = PQsocket(conn.get());
    Borrowed socket(executor, fd);
    const auto wanted =
        status == PGRES_POLLING_WRITING ? wait_type::wait_write : wait_type::wait_read;
    co_await socket.descriptor.async_wait(wanted, asio::use_awaitable);
    status = PQconnectPoll(conn.get());
  }
  if (PQsetnonblocking(conn.get(), 1) != 0) throw PgError(message_of(conn.get()));
  co_return std::unique_ptr<Connection>(new Connection(executor, conn.release()));
}

Connection::Connection(asio::any_io_executor executor, pg_conn* conn)
    : conn_(conn), socket_(std::move(executor)) {
  try {
    socket_.assign(PQsocket(conn_));
  } catch (...) {
    PQfinish(conn_);
    throw;
  }
  // The server's notices (and an ERROR it sends while the connection is idle, just before it
  // closes it) go to this receiver instead of libpq's default, which prints them on stderr.
  PQsetNoticeReceiver(conn_, &Connection::on_notice, this);
}

Connection::~Connection() {
  socket_.release();  // libpq closes its socket itself
  PQfinish(conn_);
}

void Connection::on_notice(void* self, const pg_result* notice) {
  // FATAL: the server is about to close this connection (pg_terminate_backend, shutdown).
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity && (std::string(severity) == "FATAL" || std::string(severity) == "PANIC"))
    static_cast<Connection*>(self)->usable_ = false;
}

int Connection::backend_pid() const { return PQbackendPID(conn_); }

bool Connection::in_transaction() const {
  auto status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

bool Connection::broken() const {
  return !usable_ || PQstatus(conn_) != CONNECTION_OK ||
         PQtransactionStatus(conn_) == PQTRANS_ACTIVE || PQtransactionStatus(conn_) == PQTRANS_UNKNOWN;
}

bool Connection::check_alive() {
  // A few reads at most: the server's last words (an error), then end-of-file.
  for (int i = 0; i < 4 && !broken() && readable_now(PQsocket(conn_)); ++i)
    if (!PQconsumeInput(conn_)) usable_ = false;
  return !broken();
}

asio::awaitable<Result> Connection::query(std::string sql, std::vector<std::string> params) {
  if (broken()) throw PgError("the connection is broken: " + message_of(conn_));
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  // Parameters travel apart from the SQL text (the extended protocol): no quoting, no
  // injection. Text format both ways.
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, 0))
    throw PgError(message_of(conn_));
  try {
    co_await flush();
  } catch (...) {
    usable_ = false;  // half a query sent: nothing can be done with this connection any more
    throw;
  }
  std::exception_ptr cancelled;
  try {
    co_await wait_for_result();
  } catch (const std::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
    cancelled = std::current_exception();  // no co_await in a catch block
  }
  if (cancelled) {
    // The query still runs on the server: stop it there and wait until it has stopped, with
    // the cancellation kept recorded (lesson 021's throw_if_cancelled(false)).
    const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await cancel_running_query();
    co_await asio::this_coro::throw_if_cancelled(was_checking);
    std::rethrow_exception(cancelled);
  }
  co_return co_await collect();
}

asio::awaitable<Notification> Connection::notification() {
  for (;;) {
    // libpq queues the notifications it has read (with a query's answer, or below).
    if (PGnotify* raw = PQnotifies(conn_)) {
      Notification received{raw->relname, raw->extra ? raw->extra : ""};
      PQfreemem(raw);
      co_return received;
    }
    if (broken()) throw PgError("the connection is broken: " + message_of(conn_));
    co_await socket_.async_wait(wait_type::wait_read, asio::use_awaitable);
    if (!PQconsumeInput(conn_)) {  // end-of-file or an error: the server is gone
      usable_ = false;
      throw PgError(message_of(conn_));
    }
  }
}

asio::awaitable<void> Connection::flush() {
  for (;;) {
    const int pending = PQflush(conn_);
    if (pending == 0) co_return;
    if (pending < 0) throw PgError(message_of(conn_));
    // The socket's send buffer is full (a query of many kilobytes): wait until it drains.
    co_await socket_.async_wait(wait_type::wait_write, asio::use_awaitable);
  }
}

asio::awaitable<void> Connection::wait_for_result() {
  while (PQisBusy(conn_)) {
    co_await socket_.async_wait(wait_type::wait_read, asio::use_awaitable);
    if (!PQconsumeInput(conn_)) throw PgError(message_of(conn_));  // connection lost
  }
}

asio::awaitable<Result> Connection::collect() {
  Result result;
  std::optional<PgError> error;
  for (;;) {
    co_await wait_for_result();  // PQgetResult would block the thread otherwise
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) break;  // the query is over; the connection is idle again
    std::unique_ptr<PGresult, decltype(&PQclear)> res(raw, &PQclear);
    const auto status = PQresultStatus(raw);
    if (status == PGRES_TUPLES_OK) {
      result = Result{};
      for (int c = 0; c < PQnfields(raw); ++c) result.columns.emplace_back(PQfname(raw, c));
      for (int r = 0; r < PQntuples(raw); ++r) {
        auto& row = result.rows.emplace_back();
        for (int c = 0; c < PQnfields(raw); ++c) {
          if (PQgetisnull(raw, r, c)) {
            row.emplace_back(std::nullopt);
          } else {
            row.emplace_back(std::string(PQgetvalue(raw, r, c), PQgetlength(raw, r, c)));
          }
        }
      }
    } else if (status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY && !error) {
      const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
      error.emplace(trimmed(primary ? primary : PQresultErrorMessage(raw)), state ? state : "");
    }
  }
  if (error) throw *error;
  co_return result;
}

asio::awaitable<void> Connection::cancel_running_query() {
  // PQcancel opens a connection of its own to the server and sends this backend's id and
  // secret key. It blocks for that one round trip; PostgreSQL 17's PQcancelStart and
  // PQcancelPoll are its non-blocking successor, but Debian 12 ships PostgreSQL 15.
  char error[256] = {};
  PGcancel* cancel = PQgetCancel(conn_);
  const bool sent = cancel != nullptr && PQcancel(cancel, error, sizeof error) == 1;
  if (cancel != nullptr) PQfreeCancel(cancel);
  if (!sent) {
    usable_ = false;  // the query may run on: give the connection up
    co_return;
  }
  // The server answers with the error 57014 "canceling statement due to user request", or
  // with the result if the query had finished first. A second cancellation interrupts this
  // wait: the connection is then given up.
  try {
    co_await collect();
  } catch (const PgError& e) {
    if (e.sqlstate() == "57014") ++cancelled_by_server_;
  } catch (...) {
    usable_ = false;
  }
}

// ------------------------------------------------------------------------- TempServer

namespace {

struct Owner {
  bool switch_user = false;  // true when running as root: PostgreSQL refuses root
  uid_t uid = 0;
  gid_t gid = 0;
};

Owner server_owner() {
  if (::geteuid() != 0) return {};
  const passwd* user = ::getpwnam("postgres");
  if (user == nullptr)
    throw std::runtime_error("running as root, and there is no 'postgres' user to run "
                             "PostgreSQL as (apt-get install postgresql creates it)");
  return {true, user->pw_uid, user->pw_gid};
}

// Starts `argv` with stdout and stderr appended to `log`, as the server's owner. With
// `die_with_parent`, the child gets SIGQUIT (PostgreSQL: immediate shutdown) when we die.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const Owner& owner,
            bool die_with_parent) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw std::system_error(errno, std::generic_category(), "open " + log);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (owner.switch_user &&
        (::setgroups(0, nullptr) != 0 || ::setgid(owner.gid) != 0 || ::setuid(owner.uid) != 0))
      ::_exit(126);
    if (die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || ::getppid() != parent))
      ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out);
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  return pid;
}

int run_and_wait(const std::vector<std::string>& argv, const std::string& log, const Owner& owner) {
  const pid_t pid = spawn(argv, log, owner, true);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A folder of our own in /tmp, owned by the server's owner (mode 0700).
std::string make_folder(const Owner& owner) {
  std::string folder = (fs::temp_directory_path() / "tutorial-028-XXXXXX").string();
  if (::mkdtemp(folder.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  if (owner.switch_user && ::chown(folder.c_str(), owner.uid, owner.gid) != 0)
    throw std::system_error(errno, std::generic_category(), "chown " + folder);
  return folder;
}

// Folders left by a process that died without unwinding (a crash, abort(), a sanitizer
// report): their server got SIGQUIT, but nobody removed them. Removed once an hour old and
// without a live postmaster (a folder still being set up is younger than that).
void remove_stale_folders() {
  std::error_code error;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("tutorial-028-", 0) != 0) continue;
    std::error_code ignored;
    if (now - fs::last_write_time(entry.path(), ignored) < std::chrono::hours(1)) continue;
    std::ifstream pid_file(entry.path() / "data" / "postmaster.pid");
    pid_t pid = 0;
    if (pid_file >> pid && pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;
    fs::remove_all(entry.path(), ignored);
  }
}

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(s, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(s);
    throw std::system_error(errno, std::generic_category(), "bind 127.0.0.1:0");
  }
  ::close(s);
  return ntohs(address.sin_port);
}

// bin/028-pg-template: an initdb'd cluster, made once per build folder. initdb runs in a
// folder of the owner's in /tmp; the result is copied next to the programs under a temporary
// name and renamed into place (atomic: parallel test processes may race to make it).
fs::path cluster_template(const std::string& bindir, const Owner& owner) {
  const fs::path programs = fs::read_symlink("/proc/self/exe").parent_path();
  const fs::path ready = programs / "028-pg-template";
  if (fs::exists(ready / "PG_VERSION")) return ready;
  const std::string staging = make_folder(owner);
  const std::string log = staging + "/initdb.log";
  const int status = run_and_wait({bindir + "/initdb", "-D", staging + "/data", "-U", "postgres", "-A",
                          "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
                         log, owner);
  std::string output = read_file(log);
  std::error_code ignored;
  if (status != 0) {
    fs::remove_all(staging, ignored);
    throw std::runtime_error("initdb failed (exit " + std::to_string(status) + "):\n" + output);
  }
  const fs::path copy = programs / ("028-pg-template." + std::to_string(::getpid()));
  // cp -a keeps the owner (postgres, when we are root) and the 0700 mode PostgreSQL demands.
  const int copied = run_and_wait({"/bin/cp", "-a", staging + "/data", copy.string()}, log, Owner{});
  fs::remove_all(staging, ignored);
  if (copied != 0) throw std::runtime_error("could not copy the cluster to " + copy.string());
  if (::rename(copy.c_str(), ready.c_str()) != 0) fs::remove_all(copy, ignored);  // lost the race
  return ready;
}

}  // namespace

std::optional<std::string> TempServer::bindir() {
  // Debian keeps the server programs in /usr/lib/postgresql/<major>/bin (pg_config
  // --bindir names that folder too); take the newest major installed.
  std::vector<std::pair<int, fs::path>> found;  // (major version, its bin folder)
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    const std::string major = entry.path().filename().string();
    const bool numeric = !major.empty() && major.find_first_not_of("0123456789") == std::string::npos;
    if (numeric && fs::exists(entry.path() / "bin" / "initdb") &&
        fs::exists(entry.path() / "bin" / "postgres"))
      found.emplace_back(std::stoi(major), entry.path() / "bin");
  }
  if (found.empty()) return std::nullopt;
  return std::max_element(found.begin(), found.end())->second.string();
}

TempServer::TempServer() {
  const auto programs = bindir();
  if (!programs) throw std::runtime_error("PostgreSQL is not installed (apt-get install postgresql)");
  const Owner owner = server_owner();
  const fs::path source = cluster_template(*programs, owner);
  remove_stale_folders();
  folder_ = make_folder(owner);
  const std::string data = folder_ + "/data", log = folder_ + "/server.log";
  try {
    if (run_and_wait({"/bin/cp", "-a", source.string(), data}, log, Owner{}) != 0)
      throw std::runtime_error("could not copy the cluster template " + source.string());
    start(0);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(folder_, ignored);
    throw;
  }
}

void TempServer::start(int port) {
  const std::string programs = *bindir();
  const std::string data = folder_ + "/data", log = folder_ + "/server.log";
  for (int attempt = 0; attempt < 3 && postmaster_ < 0; ++attempt) {
    port_ = port != 0 ? port : free_port();  // another process may take it first: retry
    postmaster_ = spawn({programs + "/postgres", "-D", data, "-p", std::to_string(port_), "-k",
                         folder_, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                         "synchronous_commit=off", "-c", "full_page_writes=off"},
                        log, server_owner(), true);
    conninfo_ = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres";
    // Ready when it answers (PQping blocks for a moment: fine before any io_context runs).
    for (int waited = 0; postmaster_ > 0 && PQping(conninfo_.c_str()) != PQPING_OK; ++waited) {
      int status = 0;
      if (::waitpid(postmaster_, &status, WNOHANG) == postmaster_ || waited > 3000)
        postmaster_ = -1;  // it exited (port taken?) or never became ready in 60 s
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (postmaster_ < 0) throw std::runtime_error("PostgreSQL did not start:\n" + read_file(log));
}

void TempServer::restart(std::chrono::milliseconds down_for) {
  if (postmaster_ > 0) {
    ::kill(postmaster_, SIGINT);  // fast shutdown: clients are told, then disconnected
    int status = 0;
    while (::waitpid(postmaster_, &status, 0) < 0 && errno == EINTR) {
    }
    postmaster_ = -1;
  }
  std::this_thread::sleep_for(down_for);
  // The same port, so clients' connection strings still hold. (If another process took it
  // meanwhile, start() gives up after three tries.)
  for (int attempt = 0; attempt < 50 && postmaster_ < 0; ++attempt) {
    try {
      start(port_);
    } catch (const std::runtime_error&) {
      if (attempt == 49) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

TempServer::~TempServer() {
  if (postmaster_ > 0) {
    ::kill(postmaster_, SIGQUIT);  // immediate shutdown: the data is thrown away anyway
    int status = 0;
    while (::waitpid(postmaster_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  std::error_code ignored;
  fs::remove_all(folder_, ignored);
}

std::string server_conninfo(std::unique_ptr<TempServer>& server) {
  const char* given = std::getenv("TUTORIAL_PG");
  if (given != nullptr && *given != '\0') return given;
  server = std::make_unique<TempServer>();
  return server->conninfo();
}

bool postgres_available() {
  const char* given = std::getenv("TUTORIAL_PG");
  return (given != nullptr && *given != '\0') || TempServer::bindir().has_value();
}

}  // namespace lesson028
