// Exercise 022.1, a solution: every item is a child of one task group; with_task_group()
// returns once all have ended, and a failure cancels the rest and comes out as an
// ExceptionGroup, here, to the caller.
#include <string>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "task_group.hpp"

namespace exercise {

asio::awaitable<void> process(std::string item);

asio::awaitable<void> process_all(std::vector<std::string> items) {
  // Built in a variable first (g++ 12); with_task_group keeps it alive while the body runs.
  auto body = [items](lesson022::TaskGroup group) -> asio::awaitable<void> {
    for (const std::string& item : items) group.spawn(process(item));
    co_return;
  };
  co_await lesson022::with_task_group(std::move(body));
}

}  // namespace exercise
