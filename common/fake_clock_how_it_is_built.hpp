// How it is built (lesson 023, optional): the fake clock's Timer, the list of pending waits,
// and the runner's loops. A learner can skip this file at lesson 023: fake_clock.hpp says what
// each part does, and the tests of lesson 023 show them at work. Timer::async_wait wraps the
// real one with asio::async_initiate, passing on the handler's cancellation slot and executor
// (lesson 018 teaches both).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>

// Included by fake_clock.hpp, after Clock and WaitTraits: include that one.

namespace tut::fake {

/// The expiries of the fake timer waits in progress: what the runner jumps to.
class PendingWaits {
 public:
  using Entry = std::multiset<Clock::time_point>::iterator;
  static Entry add(Clock::time_point expiry) {
    std::lock_guard lock(mutex_);
    return waits_.insert(expiry);
  }
  static void remove(Entry entry) {
    std::lock_guard lock(mutex_);
    waits_.erase(entry);
  }
  /// The earliest expiry of a wait in progress, if any.
  static std::optional<Clock::time_point> earliest() {
    std::lock_guard lock(mutex_);
    if (waits_.empty()) return std::nullopt;
    return *waits_.begin();
  }

 private:
  inline static std::mutex mutex_;
  inline static std::multiset<Clock::time_point> waits_;
};

/// asio::steady_timer's twin on the fake clock: the same constructors and members. async_wait
/// also lists the wait in PendingWaits until its handler runs, however it ends (fired,
/// cancel(), a new expiry, or a cancellation slot: the handler's slot and executor are passed
/// on, so `||`, parallel groups and timeouts cancel it as they cancel a real timer).
class Timer : public asio::basic_waitable_timer<Clock, WaitTraits> {
 public:
  using basic_waitable_timer::basic_waitable_timer;

  template <typename Token>
  auto async_wait(Token&& token) {
    auto initiation = [this](auto handler) {
      auto slot = asio::get_associated_cancellation_slot(handler);
      auto executor = asio::get_associated_executor(handler, get_executor());
      auto finish = [listed = Listed(expiry()), handler = std::move(handler)](
                        std::error_code error) mutable {
        listed = Listed();  // off the list before the handler runs (it may wait again)
        std::move(handler)(error);
      };
      basic_waitable_timer::async_wait(
          asio::bind_cancellation_slot(slot, asio::bind_executor(executor, std::move(finish))));
    };
    return asio::async_initiate<Token, void(std::error_code)>(std::move(initiation), token);
  }

 private:
  // A wait's place in PendingWaits, held by its handler: it leaves the list when the handler
  // runs, and also when Asio destroys the handler unrun (the io_context was destroyed first,
  // say because a test threw), so no stale wait is left for the next test to jump to.
  class Listed {
   public:
    Listed() = default;
    explicit Listed(Clock::time_point expiry) : entry_(PendingWaits::add(expiry)) {}
    Listed(Listed&& other) noexcept : entry_(std::exchange(other.entry_, std::nullopt)) {}
    Listed& operator=(Listed&& other) noexcept {
      if (this != &other) {
        if (entry_) PendingWaits::remove(*entry_);
        entry_ = std::exchange(other.entry_, std::nullopt);
      }
      return *this;
    }
    ~Listed() {
      if (entry_) PendingWaits::remove(*entry_);
    }

   private:
    std::optional<PendingWaits::Entry> entry_;
  };
};

/// Runs every handler that is ready, including fake timers already due, and returns when
/// nothing more is ready, without moving the clock: after Clock::advance(), this fires what
/// became due. Returns false if the io_context ran out of work. Throws if a due timer has not
/// fired by `give_up` (real time): the reactor did not look, see WaitTraits.
inline bool settle(asio::io_context& io, std::chrono::steady_clock::time_point give_up =
                                             std::chrono::steady_clock::now() +
                                             std::chrono::seconds(10)) {
  for (;;) {
    io.poll();
    if (io.stopped()) return false;
    auto next = PendingWaits::earliest();
    if (!next || *next > Clock::now()) return true;
    if (std::chrono::steady_clock::now() >= give_up)
      throw std::runtime_error("a due fake timer did not fire before the real-time limit");
    // Due, but the reactor has not looked yet (it will within 1 ms): wait for it.
    io.run_one_for(std::chrono::milliseconds(10));
  }
}

/// io.run() on fake time: whenever nothing is ready and fake timers wait, jumps the clock to
/// the earliest one. With no fake timer left but work pending (a real socket), waits for it in
/// real time. Throws if `limit` of real time passes first (a hung test, or timers forever).
inline void run_auto_advancing(asio::io_context& io, std::chrono::steady_clock::duration limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (settle(io, give_up)) {
    if (std::chrono::steady_clock::now() >= give_up)
      throw std::runtime_error("still running after the real-time limit (hung?)");
    auto next = PendingWaits::earliest();
    if (next && *next != Clock::time_point::max()) {
      Clock::set(*next);  // nothing else can happen before it: jump
    } else {
      // Only real work is left (a socket, a real timer, or a fake wait until max(), the
      // "wait for ever" idiom, never jumped to): wait for it in real time.
      io.run_one_until(give_up);
    }
  }
}

}  // namespace tut::fake
