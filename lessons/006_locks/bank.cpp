// Lesson 006: the lost update, and the mutex that prevents it.
#include "bank.hpp"

#include <stdexcept>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gather.hpp"  // lesson 003's gather()
#include "log.hpp"
#include "sleep.hpp"

namespace lesson006 {

asio::awaitable<int> deposit_unsafely(std::shared_ptr<Account> account, std::string who,
                                      milliseconds latency) {
  int balance = account->balance;  // check...
  tut::log(who, "reads balance {}", balance);
  co_await tut::sleep(latency);     // ...other tasks run here and read the same balance...
  account->balance = balance + 1;  // ...act on a stale value: their deposits are overwritten
  tut::log(who, "writes balance {}", balance + 1);
  co_return balance + 1;
}

asio::awaitable<int> deposit_safely(std::shared_ptr<Account> account, std::string who,
                                    milliseconds latency) {
  if (account->mutex.locked()) tut::log(who, "waits for the lock");
  auto guard = co_await account->mutex.lock();  // held until guard is destroyed
  int balance = account->balance;
  tut::log(who, "has the lock, reads balance {}", balance);
  co_await tut::sleep(latency);  // others still run, but none of them touches the balance
  account->balance = balance + 1;
  tut::log(who, "writes balance {}, unlocks", balance + 1);
  co_return balance + 1;
}  // ~LockGuard: unlock(), which wakes the next waiting deposit

asio::awaitable<int> deposit_concurrently(std::vector<std::string> names, bool with_lock,
                                          milliseconds latency) {
  if (names.empty()) throw std::invalid_argument("deposit_concurrently: no depositors");
  auto account = std::make_shared<Account>(co_await asio::this_coro::executor);
  auto deposit = with_lock ? deposit_safely : deposit_unsafely;
  std::vector<asio::awaitable<int>> deposits;
  for (const auto& name : names) deposits.push_back(deposit(account, name, latency));
  // asyncio.gather(*deposits) (lesson 003): all run concurrently, and we wait for all. Each
  // returns the balance it wrote; only the account's final balance matters here.
  co_await lesson003::gather(std::move(deposits));
  co_return account->balance;
}

}  // namespace lesson006
