// tut::sleep(delay), the tutorial's asyncio.sleep(delay). Lesson 001 shows the two lines it is
// made of (a steady_timer and its async_wait); later lessons call this one instead of writing
// them again. Cancelled (lesson 005), it throws system_error(operation_aborted) at once.
#pragma once

#include <chrono>

#include <asio/awaitable.hpp>

namespace tut {

asio::awaitable<void> sleep(std::chrono::steady_clock::duration delay);

}  // namespace tut
