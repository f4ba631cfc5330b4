// The demo logger: every line carries the time since the demo started and the name of the
// task that printed it, so a learner sees who runs when and what overlaps.
//
//   [ 0.3s] fetch-b   done after 0.3s
//
// Times are rounded down to 0.1 s. Lessons sleep in multiples of 100 ms, and a timer never
// fires early but may fire a few milliseconds late, so rounding down shows the scheduled time
// and the output is the same on every run: that is what lets the output checks compare it
// (cmake/CheckOutput.cmake also accepts a stamp one tick late, for heavily loaded machines).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace tut {

using clock = std::chrono::steady_clock;

/// Time elapsed since the demo clock was (re)started.
clock::duration elapsed();
/// Restarts the demo clock at zero (a demo calls it when its interesting part begins).
void reset_clock();
/// A duration as the logger prints it: seconds rounded down to 0.1, e.g. "0.3s".
std::string seconds(clock::duration d);
/// Turns the logger off (the tests do, so their reports stay readable) or on again.
void set_logging(bool enabled);

/// Prints one stamped line; safe to call from several threads.
void log_line(std::string_view task, std::string_view message);

template <typename... Args>
void log(std::string_view task, fmt::format_string<Args...> format, Args&&... args) {
  log_line(task, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tut
