// Lesson 004: wait and as_completed. The core functions the demo and the tests call.
//
// asyncio counterparts and where Asio differs:
//   asyncio.wait(tasks, return_when=...)  ->  make_parallel_group(...).async_wait(condition, ...)
//     FIRST_COMPLETED -> wait_for_one(), FIRST_EXCEPTION -> wait_for_one_error(),
//     ALL_COMPLETED -> wait_for_all(). asyncio.wait returns (done, pending) and leaves the pending
//     tasks RUNNING. A parallel group CANCELS the others and WAITS until they have finished, so
//     when it returns nothing is pending: every job has a result, the losers' is operation_aborted.
//   asyncio.as_completed(tasks)  ->  AsCompleted below: each job is its own co_spawned task whose
//     completion handler queues its result and wakes next(); you get them in completion order.
//     How the queue is built is in how_it_is_built.hpp, optional reading.
//     It works for a set whose size is only known at run time, which the variadic parallel group
//     of Asio 1.22 cannot do, and it is also how you "leave the others running" like asyncio.wait.
//   `a || b` (awaitable_operators) is a race that returns a std::variant telling which branch won.
//     Trap: it waits for the first SUCCESS (wait_for_one_success); a branch that throws does not
//     end the race. It throws only if every branch fails.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "gather.hpp"  // lesson 003's Outcome, describe() and error_of()
#include "journal.hpp"

namespace lesson004 {

using std::chrono::milliseconds;

/// What one demo job does: sleep for `delay`, then return `name`, or throw if `fails`.
struct Job {
  std::string name;
  milliseconds delay;
  bool fails = false;
};

using tut::Journal;  // how each job ended: "fast: done", "slow: cancelled" (common/journal.hpp)

/// async def job(): await asyncio.sleep(delay); return name  (or raise RuntimeError).
/// Records how it ended in `journal` ("done", "failed" or "cancelled"). When cancelled it logs
/// it and rethrows the std::system_error(operation_aborted), Asio's CancelledError.
asio::awaitable<std::string> run_job(Job job, std::shared_ptr<Journal> journal);

/// `co_await (run_job(a) || run_job(b))`: the first branch to SUCCEED wins, the other is
/// cancelled and awaited. The variant's index() says which branch won (0 = a, 1 = b).
/// If both fail it throws (asio::multiple_exceptions, holding the first error).
asio::awaitable<std::variant<std::string, std::string>> race(Job a, Job b,
                                                             std::shared_ptr<Journal> journal);

/// asyncio.wait's return_when argument.
enum class ReturnWhen { first_completed, first_exception, all_completed };

/// One job's result as a group reports it: its value, or the exception it ended with.
using Outcome = lesson003::Outcome<std::string>;
using lesson003::describe;  // "value <v>", "cancelled" or "error: <what>"
using lesson003::error_of;  // the exception, or null

/// What wait_jobs() returns. Unlike asyncio's (done, pending), nothing is pending any more.
struct WaitResult {
  /// Job indices in the order they completed, the cancelled losers included (they complete
  /// last, when they have seen the cancellation).
  std::array<std::size_t, 3> order;
  std::array<Outcome, 3> outcomes;  ///< by job index
};

/// asyncio.wait([job0, job1, job2], return_when=when), spelled with a parallel group:
/// first_completed cancels the others when any job ends (value or error), first_exception when
/// one throws (or waits for all if none does), all_completed cancels nothing. In every case it
/// returns only after all three jobs have ended.
asio::awaitable<WaitResult> wait_jobs(std::array<Job, 3> jobs, ReturnWhen when,
                                      std::shared_ptr<Journal> journal);

/// One finished job as AsCompleted hands it out.
struct Completed {
  std::size_t index;  ///< position in the jobs given to AsCompleted
  std::string name;
  Outcome outcome;
};

/// asyncio.as_completed for a run-time-sized set of jobs:
///     for next in asyncio.as_completed(tasks): result = await next
/// becomes
///     AsCompleted jobs(executor, specs, journal);
///     while (jobs.remaining() > 0) { Completed c = co_await jobs.next(); ... }
/// Every job starts at construction as a task of its own (asyncio.create_task) that keeps
/// running whether or not anyone is waiting for it: take the first result and carry on, and the
/// others are still running, as with asyncio.wait(FIRST_COMPLETED). cancel_running() is the
/// `for t in pending: t.cancel()`. Use from the executor's thread only.
class AsCompleted {
 public:
  AsCompleted(asio::any_io_executor executor, std::vector<Job> jobs,
              std::shared_ptr<Journal> journal);

  /// The next job to end, in completion order. Throws std::logic_error if all were handed out.
  /// Only one next() at a time: a second call while the awaitable of the first exists (awaited
  /// or not) throws std::logic_error, so `next() && next()` fails at once instead of hanging.
  /// Safe to await even if this object is destroyed meanwhile.
  /// Cancel-safe, like asyncio's Queue.get(): a cancelled next() (raced with `||`, under a
  /// timeout) throws system_error(operation_aborted) and loses no result, even one that
  /// arrived in the same turn as the cancellation: the next call returns it.
  asio::awaitable<Completed> next();

  /// How many results next() has still to hand out (a cancelled next() hands out none).
  std::size_t remaining() const;

  /// Cancels every job still running (asyncio: t.cancel() for each pending task). They end
  /// with operation_aborted and next() reports them like any other result.
  void cancel_running();

 private:
  struct State;
  struct Claim;
  // A static coroutine holding the state by value (in its Claim): awaiting next() stays safe
  // even if this object is moved or destroyed meanwhile (a member coroutine would hold a
  // dangling `this`).
  static asio::awaitable<Completed> receive(Claim claim);

  std::shared_ptr<State> state_;  // shared with the running jobs, which may outlive this object
};

}  // namespace lesson004
