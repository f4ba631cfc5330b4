// Lesson 022: graceful shutdown as one reusable piece, built on the task group.
//
//   asyncio                                          C++ (this header)
//   loop.add_signal_handler(SIGTERM, stop.set)       run_service() waits on an asio::signal_set
//   stop = asyncio.Event(); await stop.wait()        Stop (lesson 007's Event): co_await wait()
//   loop.call_later(grace, service_task.cancel)      a grace timer, then child.cancel()
//
// Lesson 012's EchoServer::stop() takes run_service()'s steps by hand for one server (close
// the acceptor, cancel idle reads, a drain timer); here "cancel what is left" is one call,
// because every task of the service runs in one TaskGroup: cancelling the group's parent
// cancels them all and still waits. The demo's service is in job_service.hpp (optional).
// Where C++ differs: Asio's signal_set turns a signal into an ordinary completion on our
// executor (asyncio: a callback on the loop), so no async-signal-safety rules apply.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_event.hpp"  // lesson 007
#include "task_group.hpp"

namespace lesson022 {

using std::chrono::milliseconds;

/// The "shutting down" flag: lesson 007's Event (asyncio.Event), behind a handle whose copies
/// share it, so the service's tasks can each keep one. Use it from the service's executor.
class Stop {
 public:
  explicit Stop(asio::any_io_executor executor)
      : event_(std::make_shared<lesson007::Event>(std::move(executor))) {}
  void request() const { event_->set(); }  // wakes every wait(); later calls do nothing
  bool requested() const { return event_->is_set(); }
  /// Returns once requested (at once if it is); throws operation_aborted if cancelled first.
  asio::awaitable<void> wait() const {
    auto event = event_;  // alive while we wait, whatever becomes of this handle
    co_await event->wait();
  }

 private:
  std::shared_ptr<lesson007::Event> event_;
};

/// How run_service() ended.
enum class Ending {
  finished,  ///< the service ended on its own, no signal
  clean,     ///< a signal, and every task ended within the grace period
  forced,    ///< a signal, and the grace period ran out (or a second signal): tasks cancelled
};
inline const char* to_string(Ending ending) {
  return ending == Ending::finished ? "finished" : ending == Ending::clean ? "clean" : "forced";
}
/// The process status: 0 when every task ended on its own (finished, clean), 1 when work was
/// cancelled (forced), so a supervisor (systemd, a shell) can tell them apart.
inline int exit_code(Ending ending) { return ending == Ending::forced ? 1 : 0; }

/// A service: spawns its tasks into the group and watches the Stop.
using Service = std::function<asio::awaitable<void>(TaskGroup, Stop)>;

/// Runs `service` in a task group until it ends. The first SIGINT or SIGTERM requests the Stop
/// and starts the grace period; when `grace` has passed (or on a second signal) the tasks
/// still running are cancelled, and waited for. Returns how it ended; throws the service's
/// ExceptionGroup if a task failed. The signals are caught from the call until it returns.
/// `service` is called once and kept alive until its tasks have ended.
asio::awaitable<Ending> run_service(Service service, milliseconds grace);

}  // namespace lesson022
