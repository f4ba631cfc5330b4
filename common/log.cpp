#include "log.hpp"

#include <atomic>
#include <mutex>

#include <fmt/core.h>

namespace tut {
namespace {
std::atomic<clock::rep> start_ticks{clock::now().time_since_epoch().count()};
std::atomic<bool> logging_enabled{true};
std::mutex print_mutex;  // lines from several threads (lesson 017) must not interleave

double floor_tenths(clock::duration d) {
  auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 100;
  return static_cast<double>(tenths) / 10.0;
}
}  // namespace

clock::duration elapsed() {
  return clock::now().time_since_epoch() - clock::duration(start_ticks.load());
}

void reset_clock() { start_ticks = clock::now().time_since_epoch().count(); }

std::string seconds(clock::duration d) { return fmt::format("{:.1f}s", floor_tenths(d)); }

void set_logging(bool enabled) { logging_enabled = enabled; }

void log_line(std::string_view task, std::string_view message) {
  if (!logging_enabled) return;
  auto stamp = floor_tenths(elapsed());
  std::lock_guard lock(print_mutex);
  fmt::print("[{:4.1f}s] {:<9} {}\n", stamp, task, message);
  std::fflush(stdout);
}

}  // namespace tut
