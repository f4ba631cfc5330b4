// Exercise 011.1, a solution: after each round, every worker waits at the barrier; it trips
// when the last one arrives, releases them all into the next round and refills by itself
// (asyncio.Barrier is cyclic, and so is lesson011::Barrier).
#include <cstddef>

#include <asio/awaitable.hpp>

#include "barrier.hpp"

namespace exercise {

asio::awaitable<void> compute_round(std::size_t id, int round);

asio::awaitable<void> worker(std::size_t id, int rounds, lesson011::Barrier* barrier) {
  for (int round = 1; round <= rounds; ++round) {
    co_await compute_round(id, round);
    co_await barrier->wait();  // everyone has finished `round`
  }
}

}  // namespace exercise
