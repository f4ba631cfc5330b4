// Lesson 006: the lost update, and the mutex that prevents it.
#include "bank.hpp"

#include <stdexcept>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace lesson006 {

namespace {
asio::awaitable<void> sleep_for(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}
}  // namespace

asio::awaitable<void> deposit_unsafely(std::shared_ptr<Account> account, std::string who,
                                       milliseconds latency) {
  int balance = account->balance;  // check...
  tut::log(who, "reads balance {}", balance);
  co_await sleep_for(latency);     // ...other tasks run here and read the same balance...
  account->balance = balance + 1;  // ...act on a stale value: their deposits are overwritten
  tut::log(who, "writes balance {}", balance + 1);
}

asio::awaitable<void> deposit_safely(std::shared_ptr<Account> account, std::string who,
                                     milliseconds latency) {
  if (account->mutex.locked()) tut::log(who, "waits for the lock");
  auto guard = co_await account->mutex.lock();  // held until guard is destroyed
  int balance = account->balance;
  tut::log(who, "has the lock, reads balance {}", balance);
  co_await sleep_for(latency);  // others still run, but none of them touches the balance
  account->balance = balance + 1;
  tut::log(who, "writes balance {}, unlocks", balance + 1);
}

asio::awaitable<int> deposit_concurrently(std::vector<std::string> names, bool with_lock,
                                          milliseconds latency) {
  using namespace asio::experimental::awaitable_operators;
  if (names.empty()) throw std::invalid_argument("deposit_concurrently: no depositors");
  auto account = std::make_shared<Account>(co_await asio::this_coro::executor);
  auto deposit = with_lock ? deposit_safely : deposit_unsafely;

  // `a && b && c` runs the deposits concurrently and waits for all (asyncio.gather); built
  // one name at a time because the number of names is only known at run time.
  asio::awaitable<void> all = deposit(account, names[0], latency);
  for (std::size_t i = 1; i < names.size(); ++i) {
    auto next = deposit(account, names[i], latency);
    all = std::move(all) && std::move(next);
  }
  co_await std::move(all);
  co_return account->balance;
}

}  // namespace lesson006
