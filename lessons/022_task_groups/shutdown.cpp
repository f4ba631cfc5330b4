// Lesson 022: graceful shutdown. run_service() is a task group of its own: `serve` (the
// service's task group) and `watch` (the signals); cancelling `serve` cancels what is left.
#include "shutdown.hpp"

#include <csignal>
#include <string>

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson022 {

namespace {

struct Supervision {
  // The signal handlers are installed now, before any task runs.
  explicit Supervision(asio::any_io_executor executor)
      : signals(executor, SIGINT, SIGTERM), grace_timer(executor), stop(executor) {}
  asio::signal_set signals;
  asio::steady_timer grace_timer;
  Stop stop;
  Ending ending = Ending::finished;
  bool service_ended = false;
  std::exception_ptr failure;  // the service's ExceptionGroup, rethrown as is
};

const char* signal_name(int number) { return number == SIGINT ? "SIGINT" : "SIGTERM"; }

// Cancels the service: its task group cancels every task, and waits for them.
void force(Child<void> serving, Supervision& supervision, const std::string& why) {
  if (supervision.service_ended) return;  // in the same turn as the timer or the signal
  tut::log("shutdown", "{}: cancelling what is left", why);
  supervision.ending = Ending::forced;
  serving.cancel();
}

asio::awaitable<void> serve(Service service, std::shared_ptr<Supervision> supervision) {
  std::exception_ptr error;
  try {
    auto body = [service, stop = supervision->stop](TaskGroup tasks) {
      return service(tasks, stop);
    };
    co_await with_task_group(std::move(body));
  } catch (...) {
    error = std::current_exception();
  }
  supervision->service_ended = true;
  if (!tut::is_cancellation(error)) supervision->failure = error;  // forced is no failure
  supervision->signals.cancel();  // watch() and the grace period have nothing to do
  supervision->grace_timer.cancel();
}

asio::awaitable<void> watch(Child<void> serving, milliseconds grace,
                            std::shared_ptr<Supervision> supervision) {
  auto [error, number] =
      co_await supervision->signals.async_wait(compat::as_tuple(asio::use_awaitable));
  if (error) co_return;  // the service ended first
  tut::log("shutdown", "{} received: stop accepting, {} grace period", signal_name(number),
           tut::seconds(grace));
  supervision->ending = Ending::clean;
  supervision->stop.request();
  // asyncio's loop.call_later(grace, ...): a plain handler, called with an error if cancelled.
  supervision->grace_timer.expires_after(grace);
  supervision->grace_timer.async_wait([serving, supervision](std::error_code aborted) {
    if (!aborted) force(serving, *supervision, "grace period over");
  });
  auto [again, second] =
      co_await supervision->signals.async_wait(compat::as_tuple(asio::use_awaitable));
  if (!again) force(serving, *supervision, fmt::format("{} received again", signal_name(second)));
}

}  // namespace

asio::awaitable<Ending> run_service(Service service, milliseconds grace) {
  auto supervision = std::make_shared<Supervision>(co_await asio::this_coro::executor);
  auto body = [service, grace, supervision](TaskGroup group) -> asio::awaitable<void> {
    Child<void> serving = group.spawn(serve(service, supervision));
    group.spawn(watch(serving, grace, supervision));
    co_return;
  };
  co_await with_task_group(std::move(body));
  if (supervision->failure) std::rethrow_exception(supervision->failure);
  co_return supervision->ending;
}

}  // namespace lesson022
