// Lesson 005: how a cancel() reaches a coroutine, hop by hop. Task (how_it_is_built.hpp) does:
//     asio::cancellation_signal signal;  // owned by whoever may cancel
//     asio::co_spawn(ex, work(), asio::bind_cancellation_slot(signal.slot(), on_done));
//     signal.emit(asio::cancellation_type::terminal);  // Task::cancel()
//   the signal -> its slot, bound to the co_spawn
//     -> the coroutine's cancellation_state, which FILTERS the request (terminal only by default)
//        and records it: co_await this_coro::cancellation_state, then .cancelled()
//     -> the operation the coroutine is suspended in, if any: it completes at once with
//        asio::error::operation_aborted, which use_awaitable throws as a std::system_error.
// From there it is an ordinary exception: catch blocks and destructors run as it unwinds.
#include "cancel.hpp"

#include <stdexcept>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "how_it_is_built.hpp"  // Task and to_string(): optional reading
#include "log.hpp"
#include "sleep.hpp"

namespace lesson005 {

namespace {

// Synchronous cleanup, RAII style: the destructor runs however the coroutine ends (value,
// error or cancellation), like a `finally:` block. It cannot co_await: closer() shows how to.
struct Connection {
  std::string name;
  std::shared_ptr<Journal> journal;
  ~Connection() {
    tut::log(name, "connection released (destructor)");
    journal->record(name, "released");
  }
};

// `except CancelledError: log; raise` (the caller rethrows); other errors pass unrecorded.
void note_cancelled(const std::system_error& error, const std::string& name,
                    const std::string& message, const std::string& event, Journal& journal) {
  if (error.code() != asio::error::operation_aborted) return;
  tut::log(name, "{}", message);
  journal.record(name, event);
}

}  // namespace

asio::awaitable<std::string> sleeper(std::string name, milliseconds delay,
                                     std::shared_ptr<Journal> journal) {
  Connection connection{name, journal};
  journal->record(name, "started");
  tut::log(name, "started, sleeping {}", tut::seconds(delay));
  try {
    co_await tut::sleep(delay);
  } catch (const std::system_error& error) {
    // Asio's CancelledError: rethrow it, or the task would look as if cancel() did nothing.
    note_cancelled(error, name, "caught system_error(operation_aborted): cancelled, rethrowing",
                   "saw operation_aborted", *journal);
    throw;
  }
  tut::log(name, "done");
  journal->record(name, "done");
  co_return "slept";
}

asio::awaitable<std::string> closer(std::string name, milliseconds work, milliseconds cleanup,
                                    std::shared_ptr<Journal> journal) {
  tut::log(name, "working for {}", tut::seconds(work));
  try {
    co_await tut::sleep(work);
    journal->record(name, "finished");
    co_return "finished";
  } catch (const std::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
    // Cancelled. C++ forbids co_await inside a catch block: the cleanup follows it.
  }
  journal->record(name, "cancelled");
  // The state still says "cancelled", and every co_await checks it first (throw_if_cancelled):
  // a plain co_await here would throw at once. The reset installs a fresh state, so the cleanup
  // can await. A second cancel() still interrupts it, as in asyncio; with the filter
  // asio::disable_cancellation() nothing would.
  co_await asio::this_coro::reset_cancellation_state();
  tut::log(name, "cancelled; cleanup that awaits: reset the cancellation state, then say goodbye");
  journal->record(name, "cleanup started");
  co_await tut::sleep(cleanup);
  tut::log(name, "cleanup done, rethrowing operation_aborted");
  journal->record(name, "cleanup done");
  // Still report "cancelled" to whoever awaits the task: it did not finish its work.
  throw std::system_error(asio::error::operation_aborted, "closer cancelled");
}

asio::awaitable<std::string> two_steps(std::string name, milliseconds step1, milliseconds step2,
                                       Check check, std::shared_ptr<Journal> journal) {
  // true is the default, spelled out: each co_await first checks the cancellation state and
  // throws operation_aborted if a request was recorded. false: the coroutine looks itself.
  co_await asio::this_coro::throw_if_cancelled(check == Check::automatic);
  asio::steady_timer timer(co_await asio::this_coro::executor, step1);
  tut::log(name, "step 1 ({}), an operation that cannot be cancelled", tut::seconds(step1));
  // An empty slot detaches this wait from the coroutine's cancellation, like an operation that
  // does not support it (asio::post...): a cancel() now aborts nothing, the state records it.
  co_await timer.async_wait(
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  journal->record(name, "step 1 done");

  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  tut::log(name, "step 1 done; cancellation_state.cancelled() = {}", to_string(state.cancelled()));
  if (check == Check::explicit_ && state.cancelled() != asio::cancellation_type::none) {
    tut::log(name, "saw the request, stopping cleanly before step 2");
    journal->record(name, "stopped after step 1");
    co_return "stopped after step 1";
  }
  // Check::automatic with a request recorded: this co_await throws before step 2 starts.
  timer.expires_after(step2);
  tut::log(name, "starting step 2 ({})", tut::seconds(step2));
  co_await timer.async_wait(asio::use_awaitable);
  tut::log(name, "step 2 done");
  journal->record(name, "step 2 done");
  co_return "both steps";
}

asio::awaitable<std::string> filtered_sleeper(std::string name, milliseconds delay,
                                              asio::cancellation_type_t accepted,
                                              std::shared_ptr<Journal> journal) {
  // The filter decides which request types reach the coroutine (co_spawn installs the terminal
  // one); one that can stop cleanly may accept more. A filtered-out request is ignored.
  using asio::cancellation_type;
  const auto up_to_partial = cancellation_type::terminal | cancellation_type::partial;
  if (accepted == cancellation_type::terminal)
    co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation());
  else if (accepted == up_to_partial)
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  else if (accepted == (up_to_partial | cancellation_type::total))
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  else if (accepted == cancellation_type::none)
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
  else
    throw std::invalid_argument("filtered_sleeper: unsupported filter " + to_string(accepted));
  // A handle on the (new) state: .cancelled() reads what it has recorded at the time of the call.
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  try {
    co_await tut::sleep(delay);
  } catch (const std::system_error& error) {
    const std::string type = to_string(state.cancelled());
    note_cancelled(error, name, "cancelled by a " + type + " request", "cancelled (" + type + ")",
                   *journal);
    throw;
  }
  tut::log(name, "done: no request it accepts ({}) arrived", to_string(accepted));
  journal->record(name, "done");
  co_return "slept";
}

// ---- three ways to await: does cancelling the awaiter reach the work? ----------------------

asio::awaitable<std::string> await_directly(std::string name, std::string inner, milliseconds delay,
                                            std::shared_ptr<Journal> journal) {
  try {
    co_return co_await sleeper(inner, delay, journal);  // one thread of execution, one state
  } catch (const std::system_error& error) {
    note_cancelled(error, name, "cancelled, and " + inner + " with it", "cancelled", *journal);
    throw;
  }
}

asio::awaitable<std::string> await_spawned(std::string name, std::string inner, milliseconds delay,
                                           std::shared_ptr<Journal> journal) {
  auto executor = co_await asio::this_coro::executor;
  auto child = sleeper(inner, delay, journal);
  try {
    // use_awaitable hands co_spawn this coroutine's cancellation slot: cancelling us reaches it.
    co_return co_await asio::co_spawn(executor, std::move(child), asio::use_awaitable);
  } catch (const std::system_error& error) {
    note_cancelled(error, name, "cancelled, and the spawned " + inner + " with it", "cancelled",
                   *journal);
    throw;
  }
}

asio::awaitable<std::string> await_shielded(std::string name, Task inner,
                                            std::shared_ptr<Journal> journal) {
  try {
    co_return co_await inner.result();  // bound to OUR cancellation only, not the task's
  } catch (const std::system_error& error) {
    note_cancelled(error, name, "cancelled; only its await ended, the shielded task runs on",
                   "cancelled", *journal);
    throw;
  }
}

}  // namespace lesson005
