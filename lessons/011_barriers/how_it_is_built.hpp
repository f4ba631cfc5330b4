// How it is built: the machinery behind lesson 011's Barrier, which you can skip at this
// lesson. Here, one pending wait (the handler that asio::async_initiate gave Barrier::
// async_wait, with its executor and cancellation slot); in how_it_is_built.cpp, the state
// machine that moves waits between the lists and completes them. Lesson 018 teaches
// async_initiate and cancellation slots, lesson 005 cancellation, lesson 009 the same design
// for a semaphore.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/prefer.hpp>

#include "waiter_service.hpp"  // lesson 006's: the io_context owns waiting handlers

namespace lesson011 {

class Barrier;

// One pending wait. The type-erased part is here; BarrierWaiterFor knows the handler's type.
// Registered with its io_context (lesson006::ContextOwned) until it completes, so that
// destroying the io_context destroys a waiting handler, as it does a timer's.
struct BarrierWaiter : lesson006::ContextOwned {
  enum class Place { blocked, inside, done };
  BarrierWaiter(asio::any_io_executor work_executor, asio::cancellation_slot cancel_slot)
      : ContextOwned(work_executor), executor(std::move(work_executor)), slot(cancel_slot) {}
  /// Invokes the handler, right here: the caller is already on the handler's executor.
  virtual void complete(std::exception_ptr error, std::size_t result) = 0;

  asio::any_io_executor executor;  // the handler's executor, counting as outstanding work
  asio::cancellation_slot slot;    // the handler's cancellation slot (may be unconnected)
  Barrier* owner = nullptr;        // null once the barrier is destroyed
  Place place = Place::blocked;    // in blocked_, in inside_, or finished
  bool woken = false;              // a resume() is posted for it
  bool cancel_requested = false;   // cancelled after being woken
  std::size_t index = 0;           // set when the barrier trips
};

template <typename Handler>
struct BarrierWaiterFor final : BarrierWaiter {
  BarrierWaiterFor(Handler h, const asio::any_io_executor& fallback)
      : BarrierWaiter(asio::prefer(asio::get_associated_executor(h, fallback),
                                   asio::execution::outstanding_work.tracked),
                      asio::get_associated_cancellation_slot(h)),
        handler(std::move(h)) {}
  void complete(std::exception_ptr error, std::size_t result) override {
    release();     // ours to call now, no longer the io_context's to destroy
    slot.clear();  // the handler may reuse its slot for its next operation
    Handler local = std::move(*handler);
    handler.reset();
    std::move(local)(std::move(error), result);
  }
  void abandon() override {  // the io_context is being destroyed
    place = Place::done;     // finished, as far as the barrier is concerned
    executor = {};           // no outstanding work left on the dying io_context
    slot.clear();
    [[maybe_unused]] Handler doomed = std::move(*handler);  // dies on return, the frame too
    handler.reset();
  }
  std::optional<Handler> handler;
};

}  // namespace lesson011
