// Exercise 017.1: a blocking call that stalls the loop (lesson 017, threads and executors).
// checksum() calls blocking_checksum(), a C library function that blocks its thread for a
// while. Called right on the event loop's thread, it stalls every other coroutine: a heartbeat
// that should tick every 20 ms goes silent. Run it on a thread of `pool` instead, with
// lesson017::to_thread, so the loop stays free while it works.
// Check it: ./tutorial exercise check 017.1   (stuck? ./tutorial exercise hint 017.1)
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "threads.hpp"  // lesson017::to_thread(pool, work): asyncio.to_thread

namespace exercise {

/// Given by the tests: blocks the calling thread for 200 ms, then returns a checksum of n.
int blocking_checksum(int n);

asio::awaitable<int> checksum(std::shared_ptr<asio::thread_pool> pool, int n) {
  // TODO: this blocks the event loop's thread for 200 ms: nothing else on the loop runs
  // meanwhile. Hand the call to a thread of *pool and await its result.
  (void)pool;
  co_return blocking_checksum(n);
}

}  // namespace exercise
