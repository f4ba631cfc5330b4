// How it is built: a MODEL of an event loop, what io_context (and asyncio's event loop) does
// inside, and tiny_program(), the little program that main.cpp and the tests run on this model
// and on io_context (AsioLoop) to show that both behave alike. Optional at this lesson: the
// lesson is how to *drive* a loop (event_loop.hpp); read this file when you want to see one
// built. It is a teaching model and nothing else: no other lesson uses it, it has no
// threads and no call_soon_threadsafe (that needs a self-pipe to wake poll(2) from another
// thread, which is what io_context's interrupter does), and it only watches fds for reading.
//
// One iteration, run_once(), is the heart of every event loop (CPython: BaseEventLoop._run_once):
//   1. work out how long it may sleep: 0 if callbacks are ready, else until the earliest timer,
//      else forever;
//   2. sleep in poll(2) until an fd is readable or the timeout passes (the only place it waits);
//   3. queue the callbacks of readable fds and of every timer whose deadline has passed;
//   4. run the callbacks that were ready at this point, and only those: a callback scheduled
//      now waits for the next iteration, so a callback that reschedules itself cannot starve
//      the timers and the fds.
// One deliberate difference from asyncio: an exception thrown by a callback leaves run_once()
// and run_forever(), as an exception from an Asio handler leaves io_context::run(); asyncio
// passes it to the loop's exception handler and carries on.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lesson015::model {

/// The model loop: a ready queue, a timer heap, a set of fds to read, and run_once().
class Loop {
 public:
  using clock = std::chrono::steady_clock;
  using Callback = std::function<void()>;

  /// loop.time(): the clock the deadlines use.
  clock::time_point time() const { return clock::now(); }

  /// loop.call_soon(cb): run cb in the next iteration, after the callbacks already ready (FIFO).
  void call_soon(Callback callback);
  /// loop.call_later(delay, cb): run cb once `delay` has passed.
  void call_later(clock::duration delay, Callback callback);
  /// loop.call_at(when, cb): run cb once the clock reaches `when`. Timers with the same
  /// deadline run in the order they were added (asyncio and Asio leave that order undefined).
  void call_at(clock::time_point when, Callback callback);
  /// loop.add_reader(fd, cb): run cb in every iteration in which fd is readable.
  void add_reader(int fd, Callback callback);
  /// loop.remove_reader(fd): stop watching fd. Returns whether it was watched.
  bool remove_reader(int fd);

  /// loop.stop(): run_forever() returns after the current iteration.
  void stop() { stopping_ = true; }
  /// loop.run_forever(): iterate until stop(). Throws std::logic_error instead of sleeping
  /// forever when nothing (no callback, timer or fd) could ever wake it up: asyncio would hang.
  void run_forever();
  /// One iteration (steps 1 to 4 above). Returns how many callbacks it ran.
  std::size_t run_once();

 private:
  struct Timer {
    clock::time_point when;
    std::uint64_t sequence;  // tie-breaker: same deadline, insertion order
    Callback callback;
  };
  // std::push_heap keeps the *largest* element first, so "greater" puts the earliest first.
  static bool later(const Timer& a, const Timer& b) {
    return std::pair(a.when, a.sequence) > std::pair(b.when, b.sequence);
  }

  std::deque<Callback> ready_;                      // call_soon's FIFO
  std::vector<Timer> timers_;                       // a binary heap, earliest deadline first
  std::vector<std::pair<int, Callback>> readers_;   // fd -> callback
  std::uint64_t next_sequence_ = 0;
  bool stopping_ = false;
};

}  // namespace lesson015::model

namespace lesson015 {

/// The tiny program both loops run: call_soon twice (the first schedules a third), and
/// call_later at 0.5 s (stop), 0.3 s and 0.1 s (which calls call_soon). Works with any loop
/// that has call_soon, call_later and stop (model::Loop, AsioLoop). `say` prints or collects
/// a line. The timers are 0.2 s apart so that the order stays the same on a busy machine: two
/// timers due in the same round run back to back, before what the first one schedules with
/// call_soon.
template <typename Loop>
void tiny_program(Loop& loop, std::function<void(const std::string&)> say) {
  using namespace std::chrono_literals;
  // Scheduled out of order on purpose: timers run by deadline, not by call order.
  loop.call_later(500ms, [&loop, say] {
    say("call_later 0.5s: calls stop()");
    loop.stop();
  });
  loop.call_later(300ms, [say] { say("call_later 0.3s"); });
  loop.call_later(100ms, [&loop, say] {
    say("call_later 0.1s: calls call_soon(D)");
    loop.call_soon([say] { say("D: call_soon from a timer callback"); });
  });
  loop.call_soon([&loop, say] {
    say("A: call_soon, calls call_soon(C)");
    loop.call_soon([say] { say("C: queued by A, so after B (FIFO)"); });
  });
  loop.call_soon([say] { say("B: call_soon"); });
}

}  // namespace lesson015
