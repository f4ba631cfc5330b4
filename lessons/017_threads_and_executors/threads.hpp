// Lesson 017: threads and executors.
//
// asyncio runs everything on one thread and offers to_thread()/run_in_executor() for blocking
// work, run_coroutine_threadsafe() and call_soon_threadsafe() to reach the loop from another
// thread. Asio is thread-agnostic: an io_context can be run by one thread or many, and an
// executor says where a handler runs. This lesson covers the asyncio toolbox in that world.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

namespace lesson017 {

/// asyncio.to_thread(work): runs `work` on a thread of `pool` and resumes the calling coroutine
/// on its own executor with the result, or rethrows what `work` threw. The loop stays free
/// meanwhile. Use it for blocking calls (a file read, a DNS lookup via getaddrinfo, a C library)
/// and CPU-heavy work that would otherwise stall every other coroutine on the loop.
/// Blocking work cannot be cancelled, as in asyncio: `with_timeout(to_thread(...), t)` (014)
/// returns only when `work` returns, with its result and no TimeoutError. With Asio 1.22 a
/// cancellation of this await also touches the pool coroutine's cancellation state from the
/// loop's thread (ThreadSanitizer reports the race), so put no deadline around it.
template <typename Work>
asio::awaitable<std::invoke_result_t<Work>> to_thread(asio::thread_pool& pool, Work work) {
  using Result = std::invoke_result_t<Work>;
  // The body runs on a pool thread. co_spawn delivers its completion through the awaiting
  // coroutine's executor, so after the co_await we are back on our own thread.
  auto on_pool = [work = std::move(work)]() mutable -> asio::awaitable<Result> {
    co_return work();
  };
  co_return co_await asio::co_spawn(pool, std::move(on_pool), asio::use_awaitable);
}

/// What count_in_handlers() saw.
struct HandlerCount {
  long total = 0;             // increments of one plain (non-atomic) counter
  int most_at_once = 0;       // the largest number of handlers seen running at the same time
};

/// Posts `handlers` handlers that each increment one plain counter, and runs the io_context
/// with `threads` threads. With `use_strand` every handler goes through one strand, which
/// never runs two of them at once, so the plain counter is safe; without it, the handlers
/// run in parallel (the counter is then atomic, since a plain one would be a data race).
HandlerCount count_in_handlers(int threads, int handlers, bool use_strand);

/// A plain thread (not a coroutine: say, a callback from a C library) produces `count`
/// numbers into an asio::experimental::concurrent_channel; a coroutine on the caller's loop
/// receives them. Returns what the coroutine received, in order. The channel is the
/// thread-safe queue between the two worlds (asyncio: loop.call_soon_threadsafe, or
/// janus-style queues).
asio::awaitable<std::vector<int>> receive_from_plain_thread(int count);

/// asyncio.run_coroutine_threadsafe(coro, loop).result(): from a plain thread, start a
/// coroutine on `loop` (run by another thread) and block this thread until it finishes.
/// Returns the coroutine's result.
std::string ask_the_loop_from_a_thread(asio::io_context& loop, std::string question);

/// Why awaitable operators on a thread pool need a strand. Two branches joined with `&&` wake
/// at the same moment; each then stays in its body (holding its thread, on purpose) until the
/// other branch is in its body too, or for at most `patience`. Returns the most branches seen
/// in their bodies at the same instant. Spawned on a strand of `pool` (`use_strand`, the fix):
/// always 1, the branches interleave but never overlap, so state they share needs no lock
/// (and the first branch waits out its `patience` alone). Spawned on the pool itself: 2, the
/// branches run on two threads at once, so a plain vector or counter they share would be a
/// data race.
int branches_at_once(asio::thread_pool& pool, bool use_strand,
                     std::chrono::milliseconds patience);

}  // namespace lesson017
