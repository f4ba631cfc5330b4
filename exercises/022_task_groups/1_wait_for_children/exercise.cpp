// Exercise 022.1: do not return before your tasks are done (lesson 022, task groups).
// process_all() must process every item concurrently and return only once all are processed;
// if one fails, the others are cancelled and process_all() throws a lesson022::ExceptionGroup
// of the failures. The starter fires and forgets: it returns at once, and a failure comes out
// of the event loop later, far from its caller. Use lesson 022's task group.
// Check it: ./tutorial exercise check 022.1   (stuck? ./tutorial exercise hint 022.1)
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "run.hpp"         // tut::rethrow
#include "task_group.hpp"  // lesson022::with_task_group(body), TaskGroup::spawn, ExceptionGroup

namespace exercise {

/// Given by the tests: processes one item (it takes a while); may throw.
asio::awaitable<void> process(std::string item);

asio::awaitable<void> process_all(std::vector<std::string> items) {
  auto executor = co_await asio::this_coro::executor;
  // TODO: these tasks belong to nobody: process_all() returns before they are done, and their
  // failures go to tut::rethrow, not to the caller. Spawn them as the children of a task
  // group instead, and await the group.
  for (const std::string& item : items) asio::co_spawn(executor, process(item), tut::rethrow);
  co_return;
}

}  // namespace exercise
