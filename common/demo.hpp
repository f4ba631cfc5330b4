// What the lessons' demonstrations (their main.cpp) share beyond the logger: the heading of
// each part of a demo.
#pragma once

#include <string_view>

namespace tut {

/// Starts a part of a demo: prints "== title ==" after a blank line and restarts the demo
/// clock, so the part's times read from 0 (a timer may fire a little late, and a long chain of
/// sleeps would add that up).
void part(std::string_view title);

}  // namespace tut
