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

// -------------------------------------------------------------------------------------- Stop

struct Stop::State {
  explicit State(asio::any_io_executor executor) : timer(executor) {
    timer.expires_at(asio::steady_timer::time_point::max());  // only request() ends a wait
  }
  asio::steady_timer timer;
  bool requested = false;
};

Stop::Stop(asio::any_io_executor executor) : state_(std::make_shared<State>(executor)) {}

void Stop::request() const {
  if (state_->requested) return;
  state_->requested = true;
  state_->timer.cancel();  // wakes every wait()
}

bool Stop::requested() const { return state_->requested; }

asio::awaitable<void> Stop::wait() const {
  auto state = state_;
  while (!state->requested) {
    auto [error] = co_await state->timer.async_wait(compat::as_tuple(asio::use_awaitable));
    // Aborted and not requested: it was the awaiting coroutine that was cancelled.
    if (error && !state->requested) throw std::system_error(error, "Stop::wait()");
  }
}

const char* to_string(Ending ending) {
  switch (ending) {
    case Ending::finished: return "finished";
    case Ending::clean: return "clean";
    case Ending::forced: return "forced";
  }
  return "?";
}

int exit_code(Ending ending) { return ending == Ending::forced ? 1 : 0; }

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

// ------------------------------------------------------------------------------- JobService

struct JobService::State {
  State(asio::any_io_executor executor, int count) : wakeup(executor), workers(count) {
    wakeup.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer wakeup;  // cancelled on each submit and on the Stop: idle workers look
  int workers;
  std::deque<Job> queue;
  std::optional<Stop> stop;  // run()'s
  Ledger ledger;
};

JobService::JobService(asio::any_io_executor executor, int workers)
    : state_(std::make_shared<State>(executor, workers)) {}

const Ledger& JobService::ledger() const { return state_->ledger; }

bool JobService::submit(Job job) const {
  auto& state = *state_;
  if (state.stop && state.stop->requested()) {
    state.ledger.rejected.push_back(job.id);
    tut::log("service", "job {} rejected: shutting down", job.id);
    return false;
  }
  state.ledger.accepted.push_back(job.id);
  state.queue.push_back(job);
  state.wakeup.cancel();
  return true;
}

namespace {

asio::awaitable<void> worker(std::string name, std::shared_ptr<JobService::State> state) {
  std::optional<Job> job;
  std::exception_ptr error;
  try {
    for (;;) {
      if (!state->queue.empty()) {
        job = state->queue.front();
        state->queue.pop_front();
        tut::log(name, "job {} started ({})", job->id, tut::seconds(job->duration));
        asio::steady_timer work(co_await asio::this_coro::executor, job->duration);
        co_await work.async_wait(asio::use_awaitable);
        state->ledger.done.push_back(job->id);
        tut::log(name, "job {} done", job->id);
        job.reset();
      } else if (state->stop->requested()) {
        tut::log(name, "no job left: stopping");
        co_return;
      } else {  // idle until a submit() or the Stop; a cancellation throws at the next await
        co_await state->wakeup.async_wait(compat::as_tuple(asio::use_awaitable));
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  // Cancelled (or failed): report the job it held and the ones still queued, never drop one.
  if (job) {
    state->ledger.cancelled.push_back(job->id);
    tut::log(name, "job {} cancelled", job->id);
  }
  for (; !state->queue.empty(); state->queue.pop_front()) {
    state->ledger.cancelled.push_back(state->queue.front().id);
    tut::log(name, "job {} cancelled before it started", state->queue.front().id);
  }
  std::rethrow_exception(error);
}

asio::awaitable<void> wake_on_stop(Stop stop, std::shared_ptr<JobService::State> state) {
  co_await stop.wait();
  state->wakeup.cancel();  // idle workers see the Stop and end
}

}  // namespace

asio::awaitable<void> JobService::run(TaskGroup tasks, Stop stop) {
  state_->stop = stop;
  for (int i = 1; i <= state_->workers; ++i)
    tasks.spawn(worker("worker-" + std::to_string(i), state_));
  tasks.spawn(wake_on_stop(stop, state_));
  co_return;
}

}  // namespace lesson022
