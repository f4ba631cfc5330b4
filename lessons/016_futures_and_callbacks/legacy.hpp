// Lesson 016: turning a callback API into an Asio operation that accepts any completion token.
//
// LegacyDirectory (how_it_is_built.hpp) stands for a library we cannot change: it does its work
// on a thread of its own and reports each result by calling a std::function *from that thread*:
//     directory.lookup("answer", [](int error, int value) { ... });  // errno-style, 0 = found
// async_lookup() wraps it with asio::async_initiate, so the caller picks the token as for any
// Asio call:
//
//     async_lookup(ex, directory, "answer", [](std::error_code e, int v) { ... });  // callback
//     std::future<int> f = async_lookup(ex, directory, "answer", asio::use_future);
//     int v = co_await async_lookup(ex, directory, "answer", asio::use_awaitable);
//
// asyncio's counterparts: asyncio.wrap_future(), or a Future whose set_result() a foreign
// thread schedules with loop.call_soon_threadsafe(): the stored completion handler is that
// Future. Lesson 018 adds the remaining rules (cancellation slots, async_compose).
#pragma once

#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>

#include "how_it_is_built.hpp"  // LegacyDirectory, the pretend library: skip it

namespace lesson016 {

/// LegacyDirectory::lookup as an Asio operation, void(std::error_code, int), for any token.
/// The handler runs on its associated executor (a coroutine's, for use_awaitable) or else on
/// `executor`, never on the library's thread; the lookup counts as work while it is pending.
template <typename CompletionToken>
auto async_lookup(asio::any_io_executor executor, LegacyDirectory& directory, std::string name,
                  CompletionToken&& token) {
  // async_initiate turns the token into a completion handler, calls `initiation` with it,
  // and returns what the token asks for: nothing, a future, an awaitable, a deferred op...
  auto initiation = [&directory, executor](auto handler, std::string key) {
    using Handler = decltype(handler);  // a by-value parameter: no reference to strip
    auto handler_executor = asio::get_associated_executor(handler, executor);
    // The pending lookup is outstanding work: without this guard io_context::run() could
    // return (out of work, lesson 015) while the library still holds our handler.
    auto work = asio::make_work_guard(executor);
    // Completion handlers are move-only; std::function wants a copyable callable.
    auto shared_handler = std::make_shared<Handler>(std::move(handler));
    directory.lookup(std::move(key), [shared_handler, handler_executor, work](
                                         int error, int value) mutable {
      // We are on the library's thread: never run the handler here. dispatch() hands it to
      // its executor (the io_context queues it: we are not running on it).
      std::error_code code;
      if (error != 0) code = std::error_code(error, std::generic_category());
      asio::dispatch(handler_executor, [shared_handler, code, value] {
        // Moved out: it dies here, on its executor, not with the library's std::function.
        Handler to_call = std::move(*shared_handler);
        std::move(to_call)(code, value);
      });
      work.reset();  // the queued handler is work on its own (it may even have run already)
    });
  };
  return asio::async_initiate<CompletionToken, void(std::error_code, int)>(
      std::move(initiation), token, std::move(name));
}

/// One answer of async_lookup: which token received it, the error_code, the number (0 on error).
struct Answer {
  std::string token;  // "callback", "use_future" or "use_awaitable"
  std::error_code error;
  int value = 0;
  bool operator==(const Answer&) const = default;
};

/// The demo of async_lookup: looks `name` up with a callback, use_future and use_awaitable,
/// each on a loop run that waits for its own answer; returns the answers in that order.
std::vector<Answer> lookup_three_ways(LegacyDirectory& directory, std::string name);

}  // namespace lesson016
