// Lesson 006: why single-threaded coroutines still need a lock. A deposit reads the balance,
// awaits a slow bank backend, then writes: a check-then-act that spans a co_await.
// Start reading here (bank.cpp), then async_mutex.hpp for the Mutex itself.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_mutex.hpp"

namespace lesson006 {

using std::chrono::milliseconds;

/// A bank account shared by concurrent tasks, with the mutex that guards its balance.
struct Account {
  explicit Account(asio::any_io_executor executor) : mutex(std::move(executor)) {}
  int balance = 0;
  Mutex mutex;
};

/// Deposits 1 the racy way: reads the balance, awaits `latency` (the bank backend), writes
/// balance + 1 and returns the balance it wrote. Every other task runs during that co_await,
/// so their updates can be lost.
asio::awaitable<int> deposit_unsafely(std::shared_ptr<Account> account, std::string who,
                                       milliseconds latency);

/// The same deposit with the account's mutex held from the read to the write.
asio::awaitable<int> deposit_safely(std::shared_ptr<Account> account, std::string who,
                                     milliseconds latency);

/// Runs one deposit per name concurrently on a fresh account (under the mutex or not) with
/// lesson 003's gather(), waits for all of them and returns the final balance: names.size()
/// if no update was lost. Throws std::invalid_argument if `names` is empty.
asio::awaitable<int> deposit_concurrently(std::vector<std::string> names, bool with_lock,
                                          milliseconds latency);

}  // namespace lesson006
