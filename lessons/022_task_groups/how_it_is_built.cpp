// How it is built (lesson 022, optional): the task group's bookkeeping and the demonstration's
// JobService. A learner can skip this file at this lesson (see
// how_it_is_built.hpp for what the task group's machinery is, and where it is taught).
#include "job_service.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include <asio/error.hpp>
#include <asio/this_coro.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "queue.hpp"  // lesson 010
#include "log.hpp"
#include "run.hpp"

namespace lesson022 {

// --------------------------------------------------------------------------- ExceptionGroup

ExceptionGroup::ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
    : message_(std::move(message)),
      what_(fmt::format("{} ({} sub-exception{})", message_, exceptions.size(),
                        exceptions.size() == 1 ? "" : "s")),
      exceptions_(std::move(exceptions)) {}

namespace {

std::optional<ExceptionGroup> group_in(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ExceptionGroup& group) {
    return group;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

ExceptionGroup as_group(std::exception_ptr error) {
  auto group = group_in(error);
  return group ? *group : ExceptionGroup("", {error});  // Python wraps a plain one so too
}

std::pair<std::exception_ptr, std::exception_ptr> split(
    std::exception_ptr error, const std::function<bool(std::exception_ptr)>& condition) {
  if (!error) return {nullptr, nullptr};
  auto group = group_in(error);
  if (!group) {
    if (condition(error)) return {error, nullptr};
    return {nullptr, error};
  }
  // A group: split each sub-exception (recursively), keep the message and the nesting.
  std::vector<std::exception_ptr> matched, rest;
  for (const auto& inner : group->exceptions()) {
    auto [yes, no] = split(inner, condition);
    if (yes) matched.push_back(yes);
    if (no) rest.push_back(no);
  }
  auto regroup = [&](std::vector<std::exception_ptr>& part) -> std::exception_ptr {
    if (part.empty()) return nullptr;
    return std::make_exception_ptr(ExceptionGroup(group->message(), std::move(part)));
  };
  return {regroup(matched), regroup(rest)};
}

asio::awaitable<void> wait_for(std::shared_ptr<ChildState> child) {
  // Like join(): the awaiter's cancellation is forwarded to the child, then we keep waiting.
  const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  bool cancelled = false;
  while (!child->done) {
    co_await child->ended.async_wait(compat::as_tuple(asio::use_awaitable));
    asio::cancellation_state awaiter = co_await asio::this_coro::cancellation_state;
    if (awaiter.cancelled() != asio::cancellation_type::none && !cancelled && !child->done) {
      cancelled = true;
      child->signal.emit(asio::cancellation_type::terminal);
    }
  }
  co_await asio::this_coro::throw_if_cancelled(was_checking);
  if (cancelled) throw std::system_error(asio::error::operation_aborted, "Child::wait()");
}

bool is_cancelled(const ChildState& child) {
  return child.done && tut::is_cancellation(child.error);
}

// -------------------------------------------------------------------------------- TaskGroup

struct TaskGroup::State {
  explicit State(asio::any_io_executor on) : executor(on), wakeup(on) {}
  asio::any_io_executor executor;
  lesson007::Event wakeup;  // set whenever a child ends: join() looks again
  std::map<std::uint64_t, std::shared_ptr<ChildState>> running;  // in spawn order
  std::uint64_t spawned = 0;
  std::vector<std::exception_ptr> errors;  // failures, in the order they happened
  std::exception_ptr body_error;           // the body's failure: reported last
  bool aborting = false;                   // a failure or a cancellation: no new children
  bool cancelled = false;                  // the parent was cancelled: propagate it
  bool finished = false;
};

TaskGroup::TaskGroup(asio::any_io_executor executor)
    : state_(std::make_shared<State>(std::move(executor))) {}

const asio::any_io_executor& executor_of(const TaskGroup::State& group) { return group.executor; }

std::size_t TaskGroup::running() const { return state_->running.size(); }

void check_open(const TaskGroup::State& group) {
  // asyncio's messages, both RuntimeErrors there. But an Asio coroutine whose cancellation was
  // requested runs on until its next co_await, so a child cancelled by the abort may still
  // reach a spawn(): throwing a cancellation ends it as cancelled, not as a failure.
  if (group.finished) throw std::runtime_error("TaskGroup is finished");
  if (group.aborting)
    throw std::system_error(asio::error::operation_aborted, "TaskGroup is shutting down");
}

void admit(TaskGroup::State& group, std::shared_ptr<ChildState> child) {
  child->number = group.spawned++;
  group.running.emplace(child->number, std::move(child));
}

namespace {

// Cancels everything still running, once. Copy first: a cancelled child may end (and leave
// the map) before emit() returns.
void abort(TaskGroup::State& group) {
  if (group.aborting) return;
  group.aborting = true;
  std::vector<std::shared_ptr<ChildState>> running;
  for (auto& [number, child] : group.running) running.push_back(child);
  for (auto& child : running)
    if (!child->done) child->signal.emit(asio::cancellation_type::terminal);
}

}  // namespace

void ended(std::shared_ptr<TaskGroup::State> group, std::shared_ptr<ChildState> child,
           std::exception_ptr error) {
  child->done = true;
  child->error = error;
  group->running.erase(child->number);
  if (error && !tut::is_cancellation(error)) {
    if (child->is_body)
      group->body_error = error;
    else
      group->errors.push_back(error);
    abort(*group);  // rule 2: the first failure cancels the rest
  } else if (error && child->is_body && !group->aborting) {
    // The body ended cancelled and the group did not ask for it: the parent's cancellation
    // (asyncio's propagate_cancellation_error). Cancel the children, report it at the end.
    group->cancelled = true;
    abort(*group);
  }
  // The signal must outlive co_spawn's machinery, which is still unwinding around this
  // handler: keep the child's state until the executor's next turn.
  asio::post(group->executor, [child] {});
  child->ended.set();
  group->wakeup.set();
}

namespace {

// The group's exit: waits until the body and every child have ended, forwarding the parent's
// cancellation, then throws what with_task_group must throw (replacing the scope's own error).
asio::awaitable<bool> join(std::shared_ptr<TaskGroup::State> group) {
  for (;;) {
    // The parent cancelled: asyncio's __aexit__ catches CancelledError, aborts, and keeps
    // waiting. throw_if_cancelled is off (lesson 021's exit stack runs the exits so), so the
    // waits below complete; a request already recorded before we got here is seen here too.
    asio::cancellation_state parent = co_await asio::this_coro::cancellation_state;
    if (parent.cancelled() != asio::cancellation_type::none && !group->cancelled) {
      group->cancelled = true;
      abort(*group);
    }
    if (group->running.empty()) break;
    group->wakeup.clear();
    co_await group->wakeup.async_wait(compat::as_tuple(asio::use_awaitable));
  }
  group->finished = true;
  auto errors = group->errors;
  if (group->body_error) errors.push_back(group->body_error);
  if (!errors.empty())  // failures win over a cancellation (asyncio too)
    throw ExceptionGroup("unhandled errors in a TaskGroup", errors);
  if (group->cancelled)
    throw std::system_error(asio::error::operation_aborted, "TaskGroup cancelled");
  co_return false;
}

}  // namespace

lesson021::Exit TaskGroup::exit() const {
  // A plain lambda calling a coroutine with its captures as parameters (lesson 021).
  return [group = state_](std::exception_ptr) { return join(group); };
}

// ------------------------------------------------------------------------------- JobService

struct JobService::State {
  explicit State(int count) : workers(count) {}
  int workers;
  lesson010::Queue<Job> queue;  // unbounded; shut down on the Stop: gets drain it, then throw
  Ledger ledger;
};

JobService::JobService(int workers) : state_(std::make_shared<State>(workers)) {}

const Ledger& JobService::ledger() const { return state_->ledger; }

bool JobService::submit(Job job) const {
  try {
    state_->queue.try_put(job);
  } catch (const lesson010::QueueShutDown&) {
    state_->ledger.rejected.push_back(job.id);
    tut::log("service", "job {} rejected: shutting down", job.id);
    return false;
  }
  state_->ledger.accepted.push_back(job.id);
  return true;
}

namespace {

asio::awaitable<void> worker(std::string name, std::shared_ptr<JobService::State> state) {
  std::optional<Job> job;
  std::exception_ptr error;
  try {
    for (;;) {
      job = co_await state->queue.get();
      tut::log(name, "job {} started ({})", job->id, tut::seconds(job->duration));
      asio::steady_timer work(co_await asio::this_coro::executor, job->duration);
      co_await work.async_wait(asio::use_awaitable);
      state->ledger.done.push_back(job->id);
      tut::log(name, "job {} done", job->id);
      job.reset();
    }
  } catch (const lesson010::QueueShutDown&) {  // after the Stop, once the queue is empty
    tut::log(name, "no job left: stopping");
  } catch (...) {
    error = std::current_exception();
  }
  if (!error) co_return;
  // Cancelled (or failed): report the job it held and the ones still queued, never drop one.
  if (job) {
    state->ledger.cancelled.push_back(job->id);
    tut::log(name, "job {} cancelled", job->id);
  }
  while (!state->queue.empty()) {
    int id = state->queue.try_get().id;
    state->ledger.cancelled.push_back(id);
    tut::log(name, "job {} cancelled before it started", id);
  }
  std::rethrow_exception(error);
}

asio::awaitable<void> shut_down_on(Stop stop, std::shared_ptr<JobService::State> state) {
  co_await stop.wait();
  state->queue.shutdown();  // asyncio 3.13's Queue.shutdown(): submit() now rejects
}

}  // namespace

asio::awaitable<void> JobService::run(TaskGroup tasks, Stop stop) {
  for (int i = 1; i <= state_->workers; ++i)
    tasks.spawn(worker("worker-" + std::to_string(i), state_));
  tasks.spawn(shut_down_on(stop, state_));
  co_return;
}

}  // namespace lesson022
