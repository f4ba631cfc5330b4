// Lesson 022: graceful shutdown. run_service() is a task group of its own with two children:
// `serve` (the service's task group) and `watch` (the signals), plus a grace-period task once
// a signal came. Cancelling `serve` is all "cancel what is left" takes.
#include "shutdown.hpp"

#include <system_error>

#include <asio/error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson022 {

// ------------------------------------------------------------------------------ run_service

namespace {

struct Supervision {
  // The handlers are installed now, before any task runs.
  explicit Supervision(asio::any_io_executor executor)
      : signals(executor, SIGINT, SIGTERM), grace_timer(executor) {}
  asio::signal_set signals;
  asio::steady_timer grace_timer;
  Ending ending = Ending::finished;
  bool signalled = false;
  bool service_ended = false;
  std::exception_ptr failure;  // the service's ExceptionGroup, rethrown as is
};

const char* signal_name(int number) {
  return number == SIGINT ? "SIGINT" : number == SIGTERM ? "SIGTERM" : "a signal";
}

void cancel_now(Child<void> service, Supervision& supervision) {
  supervision.ending = Ending::forced;
  service.cancel();  // its task group cancels every task, and waits for them
}

asio::awaitable<void> serve(Service service, Stop stop,
                            std::shared_ptr<Supervision> supervision) {
  std::exception_ptr error;
  try {
    auto body = [service, stop](TaskGroup tasks) { return service(tasks, stop); };
    co_await with_task_group(std::move(body));
  } catch (...) {
    error = std::current_exception();
  }
  supervision->service_ended = true;
  if (!tut::is_cancellation(error)) supervision->failure = error;  // forced is no failure
  asio::error_code ignored;
  supervision->signals.cancel(ignored);  // watch() and the grace period have nothing to do
  supervision->grace_timer.cancel();
}

asio::awaitable<void> grace_period(Child<void> service, milliseconds grace,
                                   std::shared_ptr<Supervision> supervision) {
  if (supervision->service_ended) co_return;
  supervision->grace_timer.expires_after(grace);
  auto [error] = co_await supervision->grace_timer.async_wait(compat::as_tuple(asio::use_awaitable));
  if (error || supervision->service_ended) co_return;
  tut::log("shutdown", "grace period over: cancelling what is left");
  cancel_now(service, *supervision);
}

asio::awaitable<void> watch(TaskGroup group, Child<void> service, Stop stop, milliseconds grace,
                            std::shared_ptr<Supervision> supervision) {
  while (!supervision->service_ended) {
    auto [error, number] = co_await supervision->signals.async_wait(compat::as_tuple(asio::use_awaitable));
    if (error) break;  // serve() has ended
    if (!supervision->signalled) {
      supervision->signalled = true;
      supervision->ending = Ending::clean;
      tut::log("shutdown", "{} received: stop accepting, {} grace period", signal_name(number),
               tut::seconds(grace));
      stop.request();
      group.spawn(grace_period(service, grace, supervision));
    } else {
      tut::log("shutdown", "{} received again: cancelling now", signal_name(number));
      cancel_now(service, *supervision);
    }
  }
}

asio::awaitable<void> supervise(TaskGroup group, Service service, milliseconds grace,
                                std::shared_ptr<Supervision> supervision) {
  Stop stop(co_await asio::this_coro::executor);
  Child<void> running = group.spawn(serve(service, stop, supervision));
  group.spawn(watch(group, running, stop, grace, supervision));
  co_return;
}

}  // namespace

asio::awaitable<Ending> run_service(Service service, milliseconds grace) {
  auto supervision = std::make_shared<Supervision>(co_await asio::this_coro::executor);
  auto body = [service, grace, supervision](TaskGroup group) {
    return supervise(group, service, grace, supervision);
  };
  co_await with_task_group(std::move(body));
  if (supervision->failure) std::rethrow_exception(supervision->failure);
  co_return supervision->ending;
}

}  // namespace lesson022
