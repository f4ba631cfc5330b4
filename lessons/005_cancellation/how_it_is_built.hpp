// How it is built: Task (declared in cancel.hpp), asyncio's Task built from co_spawn, a
// cancellation signal bound to it, and a channel that says "finished"; and to_string().
// Included by cancel.cpp only. A learner can skip this file at lesson 005 and come back: the
// three lines that matter are quoted at the top of cancel.cpp, and what the channel buys is
// that awaiting Task::result() forwards no cancellation to the task (a shield). Lesson 018
// shows how to write such asynchronous operations.
#pragma once

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/channel_error.hpp>

#include "cancel.hpp"
#include "run.hpp"

namespace lesson005 {

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

  // The task's completion handler: keep the outcome, then wake the awaiter, if any.
  void task_done(std::exception_ptr ended_with, std::string returned) {
    done = true;
    error = ended_with;
    value = std::move(returned);
    finished.try_send(asio::error_code{}, true);
  }
};

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

Task::Task(asio::any_io_executor executor, asio::awaitable<std::string> work)
    : state_(std::make_shared<State>(executor)) {
  auto on_done = [state = state_](std::exception_ptr error, std::string value) {
    state->task_done(error, std::move(value));  // keeps the outcome, wakes result()
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

std::string to_string(asio::cancellation_type_t type) {
  if (type == asio::cancellation_type::none) return "none";
  std::string text;
  auto append = [&](asio::cancellation_type_t flag, const char* word) {
    if ((type & flag) == asio::cancellation_type::none) return;
    if (!text.empty()) text += '|';
    text += word;  // not `"|" + std::string(word)`: g++ 12 -O3 warns falsely (stringop-overflow)
  };
  append(asio::cancellation_type::terminal, "terminal");
  append(asio::cancellation_type::partial, "partial");
  append(asio::cancellation_type::total, "total");
  return text;
}

}  // namespace lesson005
