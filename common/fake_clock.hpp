// Fake time for tests (lesson 023): a clock that only moves when a test or the runner moves
// it, a timer on that clock, and run_fake(), which runs a coroutine and, whenever nothing is
// ready but fake timers wait, jumps the clock straight to the earliest one (Tokio's
// time::pause() with auto-advance, trio's MockClock(autojump_threshold=0)). A test of a 30 s
// timeout or a 15 s retry schedule then takes milliseconds of real time, and every timer
// fires at exactly its fake time, on every run.
//
// Code under test takes its timer type as a template parameter: asio::steady_timer in the
// program, tut::fake::Timer in the test (lesson 023 shows it). Real timers and sockets still
// run on real time. A fake wait until Clock::time_point::max() (a timer used as a signal) is a
// wait for ever: the runner never jumps to it.
//
// Limits: the fake time and the list of pending waits are process-wide. Use fake timers from
// one io_context at a time, run by one thread (run_fake, or settle() after advance()). CTest
// runs every TEST_CASE in a process of its own, so tests do not share them.
#pragma once

#include <atomic>
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

#include "run.hpp"

namespace tut::fake {

/// A steady clock whose now() is whatever the test set: it starts at 0 and never moves alone.
struct Clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept { return time_point(duration(ticks_.load())); }
  /// Moves the clock forward (a steady clock never goes back: that throws).
  static void set(time_point when) {
    if (when < now()) throw std::logic_error("the fake clock cannot go back");
    ticks_.store(when.time_since_epoch().count());
  }
  static void advance(duration by) { set(now() + by); }

 private:
  // Atomic: Asio reads now() under its own locks, and a test may read it from another thread.
  inline static std::atomic<rep> ticks_{0};
};

/// What Asio asks to decide how long its reactor may sleep (to_wait_duration(expiry - now),
/// lesson 023's tests pin that). The default, asio::wait_traits, answers the remaining fake
/// duration, so the reactor would sleep that long in *real* time: after a jump of the fake
/// clock, a timer now due would wait up to 5 minutes for the reactor to look again. Instead:
/// "now" when the timer is due, else "look again in 1 ms", so a jump is seen within 1 ms.
/// (0 for both would also work, but the reactor would spin while a test waits for real I/O.)
struct WaitTraits {
  static Clock::duration to_wait_duration(const Clock::duration& remaining) {
    if (remaining <= Clock::duration::zero()) return Clock::duration::zero();
    return std::chrono::milliseconds(1);
  }
  static Clock::duration to_wait_duration(const Clock::time_point& expiry) {
    return to_wait_duration(expiry - Clock::now());
  }
};

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

/// tut::test::run_within() on fake time: runs `coroutine` on a fresh io_context with
/// run_auto_advancing(), returns its value or rethrows its exception.
template <typename T>
T run_fake(asio::awaitable<T> coroutine,
           std::chrono::steady_clock::duration limit = std::chrono::seconds(10)) {
  Outcome<T> outcome;
  asio::io_context io;
  spawn_into(io, std::move(coroutine), outcome);
  run_auto_advancing(io, limit);
  if (!outcome.done) throw std::runtime_error("the coroutine did not finish");
  return outcome.take();
}

}  // namespace tut::fake
