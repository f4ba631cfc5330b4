// Exercise 006.1: a box office that sells more seats than it has (lesson 006, locks).
// buy_ticket() checks that a seat is left, waits for the payment, then takes the seat. Ten
// buyers at once for three seats: all ten see a seat left before anyone takes one, and the
// show is oversold. Make the check and the taking one step with the office's lesson006::Mutex.
// Check it: ./tutorial exercise check 006.1   (stuck? ./tutorial exercise hint 006.1)
#include <chrono>
#include <memory>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_mutex.hpp"  // lesson006::Mutex: auto guard = co_await mutex.lock();
#include "sleep.hpp"        // tut::sleep(delay)

namespace exercise {

using namespace std::chrono_literals;

struct BoxOffice {
  BoxOffice(asio::any_io_executor executor, int seats) : seats_left(seats), mutex(std::move(executor)) {}
  int seats_left;
  lesson006::Mutex mutex;  // guards seats_left
};

/// Sells one seat: true if the buyer got one, false if the show is sold out.
asio::awaitable<bool> buy_ticket(std::shared_ptr<BoxOffice> office) {
  // TODO: between this check and the --seats_left below, the co_await lets every other buyer
  // run, and each of them sees the same seat left. Hold the office's mutex from the check to
  // the update, so that one buyer at a time checks and takes.
  if (office->seats_left == 0) co_return false;
  co_await tut::sleep(10ms);  // the payment goes through
  --office->seats_left;
  co_return true;
}

}  // namespace exercise
