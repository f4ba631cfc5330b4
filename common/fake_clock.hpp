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
// What a test uses: Clock (now(), set(), advance()); Timer, asio::steady_timer's twin on that
// clock (same constructors and members); run_fake(coroutine), the runner; settle(io), which
// fires what became due after a Clock::advance() by hand; PendingWaits::earliest(). How the
// Timer lists its waits and how the runner loops is in fake_clock_how_it_is_built.hpp (skip it
// at lesson 023; it uses async_initiate and associated cancellation slots, lesson 018's).
//
// Limits: the fake time and the list of pending waits are process-wide. Use fake timers from
// one io_context at a time, run by one thread (run_fake, or settle() after advance()). CTest
// runs every TEST_CASE in a process of its own, so tests do not share them.
#pragma once

#include <atomic>
#include <chrono>
#include <stdexcept>

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

}  // namespace tut::fake

#include "fake_clock_how_it_is_built.hpp"  // PendingWaits, Timer, settle(), run_auto_advancing()

namespace tut::fake {

/// tut::test::run_within() on fake time: runs `coroutine` on a fresh io_context with
/// run_auto_advancing(), returns its value or rethrows its exception.
template <typename T>
T run_fake(asio::awaitable<T> coroutine,
           std::chrono::steady_clock::duration limit = std::chrono::seconds(10)) {
  Completion<T> outcome;
  asio::io_context io;
  spawn_into(io, std::move(coroutine), outcome);
  run_auto_advancing(io, limit);
  if (!outcome.done) throw std::runtime_error("the coroutine did not finish");
  return outcome.take();
}

}  // namespace tut::fake
