// Lesson 016 demo: one timer wait completed in seven styles (fired, then cancelled), a
// callback library made awaitable with async_initiate, and why future.get() inside the loop
// would hang.
#include <fmt/core.h>

#include "futures.hpp"
#include "legacy.hpp"
#include "log.hpp"

using namespace std::chrono_literals;

int main() {
  // What matters here is what each style reports, not when: plain lines, no timestamps.
  fmt::print("== one steady_timer wait, seven ways to receive its result ==\n");
  for (auto style : lesson016::all_styles) {
    auto fired = lesson016::wait_in_style(style, 100ms);
    fmt::print("{:<9} fired:     {} ({})\n", lesson016::name(style), fired.error.message(),
               fired.how);
    // A 10 s wait that another timer cancels after 0.1 s: the same error_code in every style.
    auto cancelled = lesson016::wait_in_style(style, 10s, 100ms);
    fmt::print("{:<9} cancelled: {} ({})\n", lesson016::name(style), cancelled.error.message(),
               cancelled.how);
  }

  fmt::print("\n== a callback library, wrapped once with async_initiate, used with 3 tokens ==\n");
  lesson016::LegacyDirectory directory(100ms);  // each lookup takes 0.1s
  for (const char* name : {"answer", "nobody"}) {
    auto answers = lesson016::lookup_three_ways(directory, name);
    for (auto& answer : answers) {  // in the order they arrived
      auto text = answer.error ? answer.error.message() : std::to_string(answer.value);
      fmt::print("{:<13} async_lookup(\"{}\") -> {}\n", answer.token, name, text);
    }
  }

  fmt::print("\n== never block the loop's thread on a future ==\n");
  tut::reset_clock();
  lesson016::block_inside_loop(100ms, 300ms);
}
