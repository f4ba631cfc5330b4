// Lesson 001: hello, coroutines. The core functions the demo and the tests call.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson001 {

using std::chrono::milliseconds;

/// The C++ spelling of
///     async def say_after(delay, text): await asyncio.sleep(delay); return text
/// Suspends for `delay` on a steady_timer (other coroutines run meanwhile), then returns `text`.
asio::awaitable<std::string> say_after(milliseconds delay, std::string text);

/// One greeting to say: how long to wait first, and what to say.
struct Greeting {
  milliseconds delay;
  std::string text;
};

/// Awaits say_after() for each greeting, one after the other, and returns the texts in
/// order. Sequential awaits add up: the total time is the sum of the delays.
asio::awaitable<std::vector<std::string>> say_in_sequence(std::vector<Greeting> greetings);

}  // namespace lesson001
