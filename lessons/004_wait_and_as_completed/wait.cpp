// Lesson 004: wait and as_completed.
//
// Three ways to wait for several coroutines at once, from the most convenient to the most
// flexible:
//   1. `a || b` (awaitable_operators): a race between two awaitables; returns which one won.
//   2. make_parallel_group(op...).async_wait(condition, token): asyncio.wait with a return_when
//      policy, for a fixed number of operations. The condition decides when to cancel the rest.
//   3. A queue that every task's completion handler puts its result into: asyncio.as_completed,
//      for any number of tasks, and the way to leave the losers running.
// What happens to the losers is the big difference from asyncio: 1 and 2 cancel them AND wait
// until they have finished, so no task outlives the wait (structured concurrency). asyncio.wait
// returns with the pending tasks still running; 3 does that.
#include "wait.hpp"

#include <stdexcept>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>

#include "compat.hpp"
#include "how_it_is_built.hpp"  // AsCompleted's queue: optional reading
#include "log.hpp"

namespace lesson004 {

asio::awaitable<std::string> run_job(Job job, std::shared_ptr<Journal> journal) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, job.delay);
  try {
    co_await timer.async_wait(asio::use_awaitable);
  } catch (const std::system_error& error) {
    // Cancellation reaches a coroutine as an exception from the operation it is suspended in:
    // the timer wait completes early with operation_aborted (asyncio: CancelledError raised at
    // the await). Record it, then rethrow: swallowing it would turn "cancelled" into "done".
    if (error.code() == asio::error::operation_aborted) {
      tut::log(job.name, "cancelled");
      journal->record(job.name, "cancelled");
    }
    throw;
  }
  if (job.fails) {
    tut::log(job.name, "fails");
    journal->record(job.name, "failed");
    throw std::runtime_error(job.name + " failed");
  }
  tut::log(job.name, "done");
  journal->record(job.name, "done");
  co_return job.name;
}

asio::awaitable<std::variant<std::string, std::string>> race(Job a, Job b,
                                                             std::shared_ptr<Journal> journal) {
  using namespace asio::experimental::awaitable_operators;
  // Both branches are created first and raced in a plain co_await (g++ 12 miscompiles
  // temporaries built inside a co_await expression). `||` co_spawns each branch, waits for the
  // first one to SUCCEED, cancels the other and waits for it to end, then returns.
  auto left = run_job(std::move(a), journal);
  auto right = run_job(std::move(b), journal);
  auto winner = co_await (std::move(left) || std::move(right));
  co_return winner;
}

namespace {

// The three return_when policies differ only in the cancellation condition, a function object
// the group calls with each operation's results as it completes; it returns the cancellation
// type to send to the others, or cancellation_type::none to keep waiting.
template <typename Condition>
asio::awaitable<WaitResult> wait_with(std::array<Job, 3> jobs, Condition condition,
                                      std::shared_ptr<Journal> journal) {
  auto executor = co_await asio::this_coro::executor;
  // co_spawn with `deferred` does not start the coroutine: it packages "spawn this" as an
  // operation that the group launches. Each completes with (exception_ptr, std::string).
  auto spawn0 = asio::co_spawn(executor, run_job(jobs[0], journal), compat::deferred);
  auto spawn1 = asio::co_spawn(executor, run_job(jobs[1], journal), compat::deferred);
  auto spawn2 = asio::co_spawn(executor, run_job(jobs[2], journal), compat::deferred);
  auto group = asio::experimental::make_parallel_group(std::move(spawn0), std::move(spawn1),
                                                       std::move(spawn2));
  // The group completes once ALL three have completed, with the completion order first and
  // then each operation's own results, in job order.
  auto [order, error0, value0, error1, value1, error2, value2] =
      co_await group.async_wait(condition, asio::use_awaitable);
  WaitResult result;
  result.order = order;
  result.outcomes[0] = lesson003::make_outcome(error0, std::move(value0));
  result.outcomes[1] = lesson003::make_outcome(error1, std::move(value1));
  result.outcomes[2] = lesson003::make_outcome(error2, std::move(value2));
  co_return result;
}

}  // namespace

asio::awaitable<WaitResult> wait_jobs(std::array<Job, 3> jobs, ReturnWhen when,
                                      std::shared_ptr<Journal> journal) {
  switch (when) {
    case ReturnWhen::first_completed:  // cancel the others when any job ends, even by failing
      co_return co_await wait_with(std::move(jobs), asio::experimental::wait_for_one(), journal);
    case ReturnWhen::first_exception:  // cancel the others when a job fails
      co_return co_await wait_with(std::move(jobs), asio::experimental::wait_for_one_error(),
                                   journal);
    case ReturnWhen::all_completed:  // never cancel anything
      co_return co_await wait_with(std::move(jobs), asio::experimental::wait_for_all(), journal);
  }
  throw std::invalid_argument("wait_jobs: unknown ReturnWhen value");
}

// ---------------------------------------------------------------------------------------------
// as_completed: every job is a task of its own (co_spawn), bound to a cancellation signal that
// cancel_running() emits; its completion handler queues the result and wakes next(). The
// queue, the wake-up and the one-next()-at-a-time rule are in how_it_is_built.hpp.

AsCompleted::AsCompleted(asio::any_io_executor executor, std::vector<Job> jobs,
                         std::shared_ptr<Journal> journal)
    : state_(std::make_shared<State>(executor, jobs.size())) {
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    // The completion handler runs when the job ends, however it ends: it queues the job's
    // (exception_ptr, value) and wakes the next() that may be waiting.
    auto on_done = [state = state_, index, name = jobs[index].name](std::exception_ptr error,
                                                                    std::string value) {
      state->job_done(Completed{index, name, lesson003::make_outcome(error, std::move(value))});
    };
    // asyncio.create_task(job()): starts now, runs on its own. bind_cancellation_slot attaches
    // the job's signal to it (lesson 005 explains cancellation slots in detail).
    asio::co_spawn(executor, run_job(jobs[index], journal),
                   asio::bind_cancellation_slot(state_->signals[index]->slot(), on_done));
  }
}

void AsCompleted::cancel_running() {
  // Only jobs still running: a finished job's signal has nothing left to cancel.
  for (std::size_t index = 0; index < state_->signals.size(); ++index)
    if (state_->running[index]) state_->signals[index]->emit(asio::cancellation_type::terminal);
}

}  // namespace lesson004
