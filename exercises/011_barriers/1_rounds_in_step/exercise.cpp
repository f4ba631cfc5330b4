// Exercise 011.1: workers that run ahead of each other (lesson 011, barriers).
// A simulation in rounds: every worker computes its part of round 1, then of round 2, ...
// and round r+1 reads what *every* worker wrote in round r. worker() runs one worker's rounds.
// The starter goes straight on to its next round: the fast worker starts round 2 while the
// slow ones are still in round 1, and reads a half-finished state. No worker may start a
// round before all of them have finished the one before: the barrier passed in is for that.
// Check it: ./tutorial exercise check 011.1   (stuck? ./tutorial exercise hint 011.1)
#include <cstddef>

#include <asio/awaitable.hpp>

#include "barrier.hpp"  // lesson011::Barrier: co_await barrier->wait();

namespace exercise {

/// Given by the tests: worker `id` computes its part of round `round` (the faster the lower
/// its id), and checks that everyone finished round - 1 first.
asio::awaitable<void> compute_round(std::size_t id, int round);

/// Worker `id`: rounds 1 to `rounds`, one after the other. `barrier` has one party per worker.
asio::awaitable<void> worker(std::size_t id, int rounds, lesson011::Barrier* barrier) {
  for (int round = 1; round <= rounds; ++round) {
    co_await compute_round(id, round);
    // TODO: the next round needs every worker's result of this one. Wait here until all
    // the workers have finished this round.
    (void)barrier;
  }
}

}  // namespace exercise
