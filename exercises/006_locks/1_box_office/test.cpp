// Tests of exercise 006.1 (exercise.cpp next to this file): buyers run concurrently on one
// event loop (lesson 003's gather), as asyncio tasks would, and the tests count the seats.
#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/this_coro.hpp>

#include "async_mutex.hpp"
#include "gather.hpp"
#include "test_support.hpp"

namespace exercise {
struct BoxOffice {
  BoxOffice(asio::any_io_executor executor, int seats) : seats_left(seats), mutex(std::move(executor)) {}
  int seats_left;
  lesson006::Mutex mutex;
};
asio::awaitable<bool> buy_ticket(std::shared_ptr<BoxOffice> office);
}  // namespace exercise

using namespace std::chrono_literals;

namespace {
struct Sale {
  int sold = 0;
  int seats_left = 0;
};

asio::awaitable<int> buyer(std::shared_ptr<exercise::BoxOffice> office) {
  bool got = co_await exercise::buy_ticket(office);
  co_return got ? 1 : 0;
}

// `buyers` concurrent buy_ticket() calls on an office of `seats` seats.
asio::awaitable<Sale> sell(int seats, int buyers) {
  auto executor = co_await asio::this_coro::executor;
  auto office = std::make_shared<exercise::BoxOffice>(executor, seats);
  std::vector<asio::awaitable<int>> children;
  for (int i = 0; i < buyers; ++i) children.push_back(buyer(office));
  std::vector<int> got = co_await lesson003::gather(std::move(children));
  Sale sale;
  sale.sold = static_cast<int>(std::count(got.begin(), got.end(), 1));
  sale.seats_left = office->seats_left;
  co_return sale;
}
}  // namespace

TEST_CASE("ten buyers at once for three seats: three tickets sold, none oversold") {
  Sale sale = tut::test::run_within(sell(3, 10), 5s);
  INFO(sale.sold << " tickets sold for 3 seats, seats_left is now " << sale.seats_left
       << ": expected 3 sold and 0 left");
  CHECK(sale.sold == 3);
  CHECK(sale.seats_left == 0);
}

TEST_CASE("five buyers at once for ten seats: everyone gets a seat") {
  Sale sale = tut::test::run_within(sell(10, 5), 5s);
  CHECK(sale.sold == 5);
  CHECK(sale.seats_left == 5);
}

TEST_CASE("a sold-out office sells nothing") {
  Sale sale = tut::test::run_within(sell(0, 4), 5s);
  CHECK(sale.sold == 0);
  CHECK(sale.seats_left == 0);
}
