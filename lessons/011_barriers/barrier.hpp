// Lesson 011: barriers. asyncio.Barrier (Python 3.11), built on Asio.
//
// A barrier holds a fixed number of tasks (its parties) at a meeting point: each task that
// calls wait() is held until `parties` tasks have arrived, then all of them go on together.
// The barrier then empties ("drains") and fills again for the next phase, any number of times.
//
// This follows CPython's asyncio/locks.py point by point, including its four states:
//   filling    tasks arrive and wait; n_waiting() counts them. The arrival that makes the
//              count reach `parties` trips the barrier: state becomes draining.
//   draining   the tripped phase's tasks are leaving. A task arriving now is held back until
//              the last of them has left (state back to filling): it joins the *next* phase.
//   resetting  reset() was called while tasks were inside: they fail with BrokenBarrierError;
//              arrivals are held back until the last has left, then the barrier is filling.
//   broken     abort() was called: every current and every later wait() fails with
//              BrokenBarrierError, until reset().
//
// Why four states, not a generation counter (the usual C++ barrier, std::barrier included:
// each waiter remembers the phase number and leaves when it changes)? A counter only says
// "this phase is over"; the states also say how it ended and who may come in:
//   * broken is sticky: after abort(), every later wait() fails at once until reset();
//   * resetting fails the tasks inside with BrokenBarrierError, while a trip releases them
//     with an index: a bumped counter cannot tell the two apart;
//   * draining keeps phases apart: a task arriving before every task of the tripped phase
//     has resumed waits for the last of them, so n_waiting(), the indices and the next trip
//     count only tasks that left the previous phase. With a counter, an early task would
//     already count in phase n+1 while woken tasks of phase n have not run yet.
// A counter plus flags could do the same (Java's CyclicBarrier keeps a `broken` flag in its
// generation object); CPython's four named states do it, and keeping them lets this code be
// checked against Lib/asyncio/locks.py line by line.
//
//   asyncio                                   here
//   Barrier(parties), ValueError if < 1       Barrier(executor, parties), std::invalid_argument
//   index = await barrier.wait()              auto index = co_await barrier.wait();  or
//                                             barrier.async_wait(token)  (any Asio token)
//   await barrier.reset() / abort()           barrier.reset() / abort()  (plain calls)
//   parties, n_waiting, broken (properties)   parties(), n_waiting(), broken()
//   BrokenBarrierError (a RuntimeError)       BrokenBarrierError (a std::runtime_error)
//
// wait() returns an index in 0..parties-1, different for each task of a phase, in arrival
// order: the first to arrive gets 0, the one that trips the barrier gets parties-1 (the same
// numbering as asyncio and threading.Barrier), so exactly one task can do per-phase
// housekeeping with `if (index == 0)`.
//
// Like the semaphore of lesson 009, waking is separate from resuming: tripping, reset() and
// abort() only post the waiters' wake-ups (nobody runs inside the call that woke them), and
// each waiter reads the barrier's state when it actually runs, as an asyncio task does when
// it re-acquires the barrier's internal Condition. A waiter cancelled while filling leaves and
// the count goes down by one; a waiter cancelled after the trip but before it ran fails with
// operation_aborted while the others of its phase pass normally. In both cases the barrier
// stays in the same state, as asyncio's documentation says.
//
// Threading contract: bound to one executor, like every asyncio primitive. Construct it with
// the executor the tasks run on (a single-threaded io_context, or a strand) and make every
// call there. It is not thread-safe: there is no mutex inside.
//
// Where C++ differs from asyncio:
//   * reset() and abort() are plain functions: asyncio makes them coroutines only because they
//     take the barrier's internal lock, which a single-executor object does not need.
//   * Indices are numbered when the barrier trips, by arrival order among the tasks still
//     inside. asyncio hands out its running count at arrival, so after a cancellation during
//     filling two tasks of one phase can get the same index; here they stay unique, as its
//     documentation promises.
//   * Every wait() completes through the executor, even the one that trips the barrier (in
//     asyncio that task returns without suspending), so the tasks of a phase resume in arrival
//     order, index 0 first.
//   * Cancellation is Asio's (a cancellation slot, or `||`), the error asio's operation_aborted
//     instead of CancelledError.
//   * Lifetime, the rule asio::steady_timer follows (every primitive of Part II): destroying a
//     Barrier fails the waits not resumed yet with operation_aborted, even those its trip already
//     woke; destroying the io_context while tasks wait destroys their coroutine frames (lesson
//     006's waiter_service.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>

#include "how_it_is_built.hpp"  // BarrierWaiter: the machinery, which you can skip

namespace lesson011 {

using std::chrono::milliseconds;

/// asyncio.BrokenBarrierError: wait() on a barrier that was aborted, or reset while waiting.
class BrokenBarrierError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// asyncio.Barrier. See the top of this file for the states, the rules and the threading
/// contract (one executor, not thread-safe).
class Barrier {
 public:
  enum class State { filling, draining, resetting, broken };

  /// A barrier for `parties` tasks whose waits complete on `executor` (unless a handler has an
  /// associated executor of its own). Throws std::invalid_argument if parties < 1.
  Barrier(asio::any_io_executor executor, std::size_t parties);
  /// Fails pending waits with asio::error::operation_aborted.
  ~Barrier();
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// `await barrier.wait()`: waits until `parties` tasks have called it, then returns this
  /// task's index (0..parties-1, in arrival order). Throws BrokenBarrierError if the barrier
  /// is broken, or is aborted or reset while waiting; std::system_error(operation_aborted) if
  /// cancelled.
  asio::awaitable<std::size_t> wait();

  /// The same as an Asio asynchronous operation with signature
  /// void(std::exception_ptr, std::size_t): the exception is null on success, otherwise a
  /// BrokenBarrierError or a std::system_error(operation_aborted). use_awaitable rethrows it.
  /// Always completes through the executor, never inside this call.
  template <typename CompletionToken>
  auto async_wait(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::exception_ptr, std::size_t)>(
        [this](auto handler) {
          using Handler = decltype(handler);
          arrive(std::make_shared<WaiterFor<Handler>>(std::move(handler), executor_));
        },
        token);
  }

  /// Back to the empty, filling state. Tasks waiting inside fail with BrokenBarrierError
  /// (the barrier is "resetting" until the last of them has left). Also repairs a broken one.
  void reset();
  /// Breaks the barrier: current and later waits fail with BrokenBarrierError until reset().
  void abort();

  std::size_t parties() const { return parties_; }
  /// Tasks waiting for the barrier to trip (0 unless filling, as in asyncio).
  std::size_t n_waiting() const { return state_ == State::filling ? inside_.size() : 0; }
  bool broken() const { return state_ == State::broken; }
  State state() const { return state_; }

 private:
  // One pending wait, and a list of them (how_it_is_built.hpp).
  using Waiter = BarrierWaiter;
  template <typename Handler>
  using WaiterFor = BarrierWaiterFor<Handler>;
  using WaiterList = std::list<std::shared_ptr<Waiter>>;

  void arrive(std::shared_ptr<Waiter> waiter);
  void enter(std::shared_ptr<Waiter> waiter);
  void wake(WaiterList& waiters);
  void resume(const std::shared_ptr<Waiter>& waiter);
  void leave();
  void cancel(Waiter* waiter);
  static std::shared_ptr<Waiter> take(WaiterList& waiters, Waiter* waiter);
  static void post_completion(std::shared_ptr<Waiter> waiter, std::exception_ptr error);

  asio::any_io_executor executor_;
  std::size_t parties_;
  State state_ = State::filling;
  WaiterList inside_;   // counted in the current phase (asyncio's _count), in arrival order
  WaiterList blocked_;  // arrived while draining or resetting: held back until it is over
};

/// One line of what run_in_phases() observed, in the order it happened.
struct PhaseEvent {
  enum class Kind { finished_work, passed };
  Kind kind;
  int worker;
  int round;
  std::size_t index;  // wait()'s result, for `passed`
};

/// The phased demonstration: one worker per row of `work`; in round r, worker w works for
/// work[w][r], then waits at a shared Barrier(workers) before starting round r+1, so no worker
/// starts a round before all have finished the previous one. Logs with tut::log and returns
/// the events in order.
asio::awaitable<std::vector<PhaseEvent>> run_in_phases(std::vector<std::vector<milliseconds>> work);

/// The abort demonstration: `workers` workers work for 100 ms * (worker number); the one
/// numbered `failing` fails instead of reaching the barrier and calls abort(). Returns, per
/// worker, what its wait() ended with: "index N" or "BrokenBarrierError: ...".
asio::awaitable<std::vector<std::string>> run_with_failure(int workers, int failing);

}  // namespace lesson011
