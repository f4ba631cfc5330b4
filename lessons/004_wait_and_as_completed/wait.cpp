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

#include <deque>
#include <stdexcept>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/parallel_group.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

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
      journal->cancelled.push_back(job.name);
    }
    throw;
  }
  if (job.fails) {
    tut::log(job.name, "fails");
    journal->failed.push_back(job.name);
    throw std::runtime_error(job.name + " failed");
  }
  tut::log(job.name, "done");
  journal->finished.push_back(job.name);
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
  result.outcomes[0] = Outcome{std::move(value0), error0};
  result.outcomes[1] = Outcome{std::move(value1), error1};
  result.outcomes[2] = Outcome{std::move(value2), error2};
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

std::string describe(const Outcome& outcome) {
  if (!outcome.error) return "value " + outcome.value;
  if (tut::is_cancellation(outcome.error)) return "cancelled";
  try {
    std::rethrow_exception(outcome.error);
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  } catch (...) {
    return "error: unknown exception";
  }
}

// ---------------------------------------------------------------------------------------------
// as_completed: a queue of results, filled by the jobs' completion handlers.

// Shared by AsCompleted and every job's completion handler, so it lives until the last of them.
struct AsCompleted::State {
  explicit State(asio::any_io_executor executor)
      : wakeup(executor, asio::steady_timer::time_point::max()) {}

  // Finished jobs not yet handed out. A result leaves the queue only when next() returns it,
  // so a next() cancelled at any moment loses nothing (asyncio's Queue.get() works the same
  // way). Why not an experimental::channel: a receive that completes in the same turn as its
  // cancellation has already taken the message, and in Asio 1.22 cancelling a receive on a
  // buffered channel leaves it refusing every later try_send.
  std::deque<Completed> results;
  // The wake-up call: next() waits on this timer, which never expires; a job that ends
  // cancels the wait. asyncio's Queue uses a future the same way.
  asio::steady_timer wakeup;
  // One cancellation signal per job, bound to its co_spawn: emitting it cancels that job.
  // A signal must outlive the operation it is bound to, hence unique_ptr (stable addresses)
  // inside the shared state.
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
  std::vector<bool> running;
  std::size_t remaining = 0;  // results not yet handed out by next()
  bool receiving = false;     // a next() is in progress
};

// "A next() is in progress", from the call of next() until its coroutine frame is destroyed
// (awaited to the end, or dropped unawaited): the frame owns the Claim, a by-value parameter.
// Set at the call, not when the coroutine first runs, or two calls made before either is
// awaited (`next() && next()`) would both pass the check, and with one result left one of
// them would wait forever.
struct AsCompleted::Claim {
  std::shared_ptr<State> state;
  explicit Claim(std::shared_ptr<State> claimed) : state(std::move(claimed)) {
    state->receiving = true;
  }
  Claim(Claim&& other) noexcept : state(std::move(other.state)) {}
  ~Claim() {
    if (state) state->receiving = false;  // null when moved from
  }
};

AsCompleted::AsCompleted(asio::any_io_executor executor, std::vector<Job> jobs,
                         std::shared_ptr<Journal> journal)
    : state_(std::make_shared<State>(executor)) {
  state_->running.assign(jobs.size(), true);
  state_->remaining = jobs.size();
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    state_->signals.push_back(std::make_unique<asio::cancellation_signal>());
    // The completion handler runs when the job ends, however it ends: it queues the job's
    // (exception_ptr, value) and wakes the next() that may be waiting.
    auto on_done = [state = state_, index, name = jobs[index].name](std::exception_ptr error,
                                                                    std::string value) {
      state->running[index] = false;
      state->results.push_back(Completed{index, name, Outcome{std::move(value), error}});
      state->wakeup.cancel();
    };
    // asyncio.create_task(job()): starts now, runs on its own. bind_cancellation_slot attaches
    // the job's signal to it (lesson 005 explains cancellation slots in detail).
    asio::co_spawn(executor, run_job(jobs[index], journal),
                   asio::bind_cancellation_slot(state_->signals[index]->slot(), on_done));
  }
}

std::size_t AsCompleted::remaining() const { return state_->remaining; }

asio::awaitable<Completed> AsCompleted::next() {
  // Checked now, when next() is called, so misuse fails at the call site.
  if (state_->remaining == 0)
    throw std::logic_error("AsCompleted::next(): every job has already been handed out");
  if (state_->receiving) throw std::logic_error("AsCompleted::next(): already waiting");
  return receive(Claim(state_));
}

asio::awaitable<Completed> AsCompleted::receive(Claim claim) {
  auto& state = claim.state;
  asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  const auto cancelled_at_start = cancellation.cancelled();
  while (state->results.empty()) {
    // Ends with operation_aborted both when a job wakes us and when next() is cancelled:
    // the cancellation state tells them apart. If both happen in the same turn, the
    // cancellation wins and the result stays queued for the next call.
    co_await state->wakeup.async_wait(compat::as_tuple(asio::use_awaitable));
    if (cancellation.cancelled() != cancelled_at_start)
      throw std::system_error(asio::error::operation_aborted, "AsCompleted::next() cancelled");
  }
  Completed completed = std::move(state->results.front());
  state->results.pop_front();
  --state->remaining;
  co_return completed;
}

void AsCompleted::cancel_running() {
  // Only jobs still running: a finished job's signal has nothing left to cancel.
  for (std::size_t index = 0; index < state_->signals.size(); ++index)
    if (state_->running[index]) state_->signals[index]->emit(asio::cancellation_type::terminal);
}

}  // namespace lesson004
