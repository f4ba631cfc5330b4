// Lesson 022: graceful shutdown as one reusable piece, built on the task group.
//
//   asyncio                                          C++ (this header)
//   loop.add_signal_handler(SIGTERM, stop.set)       run_service() waits on an asio::signal_set
//   stop = asyncio.Event(); await stop.wait()        Stop: requested(), co_await wait()
//   async with asyncio.timeout(grace): await tasks   the grace period, then child.cancel()
//
// run_service(service, grace): on the first SIGINT or SIGTERM it requests the Stop (the
// service stops accepting work, its tasks finish what they hold), gives them `grace` to end,
// then cancels what is left; a second signal cancels at once. It returns how it ended, which
// exit_code() turns into the process's status. Lesson 012's EchoServer::stop() takes the same
// steps by hand for one server (close the acceptor, cancel idle reads, a drain timer); here the
// service only watches a Stop, and "cancel what is left" is one call, because every task of the
// service runs in one TaskGroup: cancelling the group's parent cancels them all and still
// waits. The demonstration's service, JobService, is in job_service.hpp (optional reading).
// Where C++ differs: asyncio's handler is a callback on the loop; Asio's signal_set turns the
// signal into an ordinary completion on our executor, so no async-signal-safety rules apply.
#pragma once

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "task_group.hpp"

namespace lesson022 {

using std::chrono::milliseconds;

/// An asyncio.Event used for one thing: "shutting down". Copies share the flag. Use from the
/// executor the service runs on; it holds a timer, so (like any Asio I/O object) the last copy
/// must not outlive the io_context.
class Stop {
 public:
  explicit Stop(asio::any_io_executor executor);
  /// Sets the flag and wakes every wait(). Later calls do nothing.
  void request() const;
  bool requested() const;
  /// Returns once request() has been called (at once if it has). Throws operation_aborted if
  /// the awaiting coroutine is cancelled first.
  asio::awaitable<void> wait() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// How run_service() ended.
enum class Ending {
  finished,  ///< the service ended on its own, no signal
  clean,     ///< a signal, and every task ended within the grace period
  forced,    ///< a signal, and the grace period ran out (or a second signal): tasks cancelled
};
const char* to_string(Ending ending);
/// The process status: 0 when every task ended on its own (finished, clean), 1 when work was
/// cancelled (forced), so a supervisor (systemd, a shell) can tell them apart.
int exit_code(Ending ending);

/// A service: spawns its tasks into the group and watches the Stop.
using Service = std::function<asio::awaitable<void>(TaskGroup, Stop)>;

/// Runs `service` in a task group until it ends. The first SIGINT or SIGTERM requests the Stop
/// and starts the grace period; when `grace` has passed (or on a second signal) the tasks
/// still running are cancelled, and waited for. Returns how it ended; throws the service's
/// ExceptionGroup if a task failed. The signals are caught from the call until it returns.
/// `service` is called once and kept alive until its tasks have ended.
asio::awaitable<Ending> run_service(Service service, milliseconds grace);

}  // namespace lesson022
