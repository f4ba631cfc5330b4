// Lesson 005: cancellation.
//
// How a cancel() reaches a coroutine, hop by hop:
//   cancellation_signal (owned by whoever may cancel: our Task)
//     -> its slot, bound to the co_spawn with bind_cancellation_slot
//     -> the coroutine's cancellation_state, which FILTERS the request (terminal only by default)
//        and records it: co_await this_coro::cancellation_state, then .cancelled()
//     -> the operation the coroutine is suspended in, if any: it completes at once with
//        asio::error::operation_aborted, which use_awaitable throws as a std::system_error.
// From there it is an ordinary exception: catch blocks and destructors run as it unwinds.
#include "cancel.hpp"

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/channel_error.hpp>

#include "log.hpp"
#include "run.hpp"

namespace lesson005 {

bool Journal::has(const std::string& name, const std::string& event) const {
  return std::find(events.begin(), events.end(), name + ": " + event) != events.end();
}

// ---------------------------------------------------------------------------------------------
// Task: co_spawn + a cancellation signal + a channel that says "finished".

struct Task::State {
  explicit State(asio::any_io_executor executor) : finished(executor, 1) {}

  // The signal must outlive the coroutine it is bound to: it lives here, in the state the
  // coroutine's completion handler keeps alive.
  asio::cancellation_signal signal;
  // One message when the task ends, to wake whoever is in result(). Capacity 1: the completion
  // handler never waits, and the message waits for a result() that comes later. (The bool is
  // unused: Asio 1.22 cannot instantiate a channel<void(error_code)>, an ambiguity fixed later.)
  asio::experimental::channel<void(asio::error_code, bool)> finished;
  bool done = false;
  bool waiting = false;
  std::string value;
  std::exception_ptr error;
};

Task::Task(asio::any_io_executor executor, asio::awaitable<std::string> work)
    : state_(std::make_shared<State>(executor)) {
  auto on_done = [state = state_](std::exception_ptr error, std::string value) {
    state->done = true;
    state->error = error;
    state->value = std::move(value);
    state->finished.try_send(asio::error_code{}, true);
  };
  // The handler's associated cancellation slot is the one co_spawn connects to the coroutine:
  // emitting state_->signal now reaches the coroutine's cancellation state.
  asio::co_spawn(executor, std::move(work),
                 asio::bind_cancellation_slot(state_->signal.slot(), std::move(on_done)));
}

bool Task::cancel(asio::cancellation_type_t type) {
  if (state_->done) return false;  // nothing left to cancel; emitting now would reach nothing
  state_->signal.emit(type);
  return true;
}

bool Task::done() const { return state_->done; }

bool Task::cancelled() const { return state_->done && tut::is_cancellation(state_->error); }

// "A result() is waiting", from the call of result() until its coroutine frame is destroyed
// (awaited to the end, or dropped unawaited): the frame owns the Claim, a by-value parameter.
// Set at the call, not when the coroutine first runs, or two calls made before either is
// awaited (`task.result() && task.result()`) would both pass the check and both receive from
// the channel, where only one message ever arrives: one of them would hang.
struct Task::Claim {
  std::shared_ptr<State> state;
  explicit Claim(std::shared_ptr<State> claimed) : state(std::move(claimed)) {
    state->waiting = true;
  }
  Claim(Claim&& other) noexcept : state(std::move(other.state)) {}
  ~Claim() {
    if (state) state->waiting = false;  // null when moved from
  }
};

asio::awaitable<std::string> Task::result() {
  if (state_->waiting && !state_->done)
    throw std::logic_error("Task::result(): another coroutine is already waiting");
  return wait_for(Claim(state_));
}

asio::awaitable<std::string> Task::wait_for(Claim claim) {
  auto& state = claim.state;
  if (!state->done) {
    try {
      // This receive is bound to the AWAITING coroutine's cancellation state, not the task's:
      // cancelling the awaiter aborts the receive only. That is asyncio.shield(task).
      co_await state->finished.async_receive(asio::use_awaitable);
    } catch (const std::system_error& error) {
      // A cancelled channel receive reports channel_cancelled; report it as the same
      // operation_aborted that every other cancelled operation gives.
      if (error.code() == asio::experimental::error::channel_cancelled)
        throw std::system_error(asio::error::operation_aborted, "Task::result() cancelled");
      throw;
    }
  }
  if (state->error) std::rethrow_exception(state->error);
  co_return state->value;
}

// ---------------------------------------------------------------------------------------------
// Workers.

namespace {

// Synchronous cleanup, RAII style: the destructor runs however the coroutine ends (value,
// error or cancellation), like a `finally:` block. It cannot co_await: closer() shows how to.
struct Connection {
  std::string name;
  std::shared_ptr<Journal> journal;
  ~Connection() {
    tut::log(name, "connection released (destructor)");
    journal->add(name, "released");
  }
};

asio::awaitable<void> sleep_for(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

asio::awaitable<std::string> sleeper(std::string name, milliseconds delay,
                                     std::shared_ptr<Journal> journal) {
  Connection connection{name, journal};
  journal->add(name, "started");
  tut::log(name, "started, sleeping {}", tut::seconds(delay));
  try {
    co_await sleep_for(delay);
  } catch (const std::system_error& error) {
    // The cancelled timer wait: Asio's CancelledError. Log, then rethrow so the task ends as
    // cancelled; swallowing it would make cancel() look like it did nothing.
    if (error.code() == asio::error::operation_aborted) {
      tut::log(name, "caught system_error(operation_aborted): cancelled, rethrowing");
      journal->add(name, "saw operation_aborted");
    }
    throw;
  }
  tut::log(name, "done");
  journal->add(name, "done");
  co_return "slept";
}

asio::awaitable<std::string> closer(std::string name, milliseconds work, milliseconds cleanup,
                                    std::shared_ptr<Journal> journal) {
  bool cancelled = false;
  tut::log(name, "working for {}", tut::seconds(work));
  try {
    co_await sleep_for(work);
  } catch (const std::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
    // C++ forbids co_await inside a catch block: note it and do the async cleanup below.
    cancelled = true;
  }
  if (!cancelled) {
    journal->add(name, "finished");
    co_return "finished";
  }
  journal->add(name, "cancelled");
  // The cancellation state still says "cancelled", and with throw_if_cancelled on (the
  // default) every co_await checks it first: a plain co_await here would throw at once.
  // reset_cancellation_state() installs a fresh, uncancelled state (terminal filter again), so
  // the cleanup can await; a second cancel() would still interrupt it, as in asyncio. Pass
  // asio::disable_cancellation() instead to make the cleanup uninterruptible.
  co_await asio::this_coro::reset_cancellation_state();
  tut::log(name, "cancelled; cleanup that awaits: reset the cancellation state, then say goodbye");
  journal->add(name, "cleanup started");
  co_await sleep_for(cleanup);
  tut::log(name, "cleanup done, rethrowing operation_aborted");
  journal->add(name, "cleanup done");
  // Still report "cancelled" to whoever awaits the task: it did not finish its work.
  throw std::system_error(asio::error::operation_aborted, "closer cancelled");
}

asio::awaitable<std::string> two_steps(std::string name, milliseconds step1, milliseconds step2,
                                       Check check, std::shared_ptr<Journal> journal) {
  if (check == Check::automatic) {
    // The default, spelled out: a co_await first checks the cancellation state and throws
    // operation_aborted if a request was recorded. (co_await this_coro::throw_if_cancelled()
    // without an argument reads the setting.)
    co_await asio::this_coro::throw_if_cancelled(true);
  } else {
    // Turn the automatic check off: co_await no longer throws because of a recorded request,
    // and the coroutine decides itself, by looking at its cancellation state.
    co_await asio::this_coro::throw_if_cancelled(false);
  }
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, step1);
  tut::log(name, "step 1 ({}), an operation that cannot be cancelled", tut::seconds(step1));
  // Binding an empty slot detaches this wait from the coroutine's cancellation: a stand-in for
  // operations that do not support cancellation (asio::post, many third-party operations).
  // A cancel() during it finds no operation to abort; the cancellation state records it.
  co_await timer.async_wait(
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  journal->add(name, "step 1 done");

  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  tut::log(name, "step 1 done; cancellation_state.cancelled() = {}", to_string(state.cancelled()));
  if (check == Check::explicit_ && state.cancelled() != asio::cancellation_type::none) {
    tut::log(name, "saw the request, stopping cleanly before step 2");
    journal->add(name, "stopped after step 1");
    co_return "stopped after step 1";
  }
  // Check::automatic: if a request was recorded, this co_await throws operation_aborted
  // BEFORE the timer is started. Step 2 never runs.
  timer.expires_after(step2);
  tut::log(name, "starting step 2 ({})", tut::seconds(step2));
  co_await timer.async_wait(asio::use_awaitable);
  tut::log(name, "step 2 done");
  journal->add(name, "step 2 done");
  co_return "both steps";
}

asio::awaitable<std::string> filtered_sleeper(std::string name, milliseconds delay,
                                              asio::cancellation_type_t accepted,
                                              std::shared_ptr<Journal> journal) {
  // The filter decides which request types reach the coroutine's state and its operations.
  // co_spawn installs enable_terminal_cancellation; a coroutine that can stop cleanly (no
  // half-done side effects) may accept more. A filtered-out request is simply ignored.
  if (accepted == asio::cancellation_type::terminal) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation());
  } else if (accepted == (asio::cancellation_type::terminal | asio::cancellation_type::partial)) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  } else if (accepted == (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                          asio::cancellation_type::total)) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  } else if (accepted == asio::cancellation_type::none) {
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
  } else {
    throw std::invalid_argument("filtered_sleeper: unsupported filter " + to_string(accepted));
  }
  // A handle on the (new) state: .cancelled() reads what it has recorded at the time of the call.
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  try {
    co_await sleep_for(delay);
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      tut::log(name, "cancelled by a {} request", to_string(state.cancelled()));
      journal->add(name, "cancelled (" + to_string(state.cancelled()) + ")");
    }
    throw;
  }
  tut::log(name, "done: no request it accepts ({}) arrived", to_string(accepted));
  journal->add(name, "done");
  co_return "slept";
}

asio::awaitable<std::string> await_directly(std::string name, std::string inner, milliseconds delay,
                                            std::shared_ptr<Journal> journal) {
  try {
    // One thread of execution: sleeper runs inside this coroutine and shares its
    // cancellation state. Cancelling this coroutine aborts the timer inside sleeper.
    co_return co_await sleeper(inner, delay, journal);
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      tut::log(name, "cancelled, and {} with it", inner);
      journal->add(name, "cancelled");
    }
    throw;
  }
}

asio::awaitable<std::string> await_spawned(std::string name, std::string inner, milliseconds delay,
                                           std::shared_ptr<Journal> journal) {
  auto executor = co_await asio::this_coro::executor;
  auto child = sleeper(inner, delay, journal);
  try {
    // A coroutine of its own, but use_awaitable hands co_spawn this coroutine's cancellation
    // slot, and co_spawn connects the child to it: cancelling us cancels the child.
    co_return co_await asio::co_spawn(executor, std::move(child), asio::use_awaitable);
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      tut::log(name, "cancelled, and the spawned {} with it", inner);
      journal->add(name, "cancelled");
    }
    throw;
  }
}

asio::awaitable<std::string> await_shielded(std::string name, Task inner,
                                            std::shared_ptr<Journal> journal) {
  try {
    co_return co_await inner.result();
  } catch (const std::system_error& error) {
    if (error.code() == asio::error::operation_aborted) {
      tut::log(name, "cancelled; only its await ended, the shielded task runs on");
      journal->add(name, "cancelled");
    }
    throw;
  }
}

std::string to_string(asio::cancellation_type_t type) {
  if (type == asio::cancellation_type::none) return "none";
  std::string text;
  auto append = [&](asio::cancellation_type_t flag, const char* word) {
    if ((type & flag) != asio::cancellation_type::none)
      text += (text.empty() ? "" : "|") + std::string(word);
  };
  append(asio::cancellation_type::terminal, "terminal");
  append(asio::cancellation_type::partial, "partial");
  append(asio::cancellation_type::total, "total");
  return text;
}

}  // namespace lesson005
