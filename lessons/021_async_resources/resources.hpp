// Lesson 021: async resources. What the demo and the tests call; the exit stack is in
// exit_stack.hpp, the Stream's own code in how_it_is_built.hpp/.cpp (optional reading).
//
//   async def gen(): ... yield x                asio::experimental::coro<int> (take_lazily)
//   async for x in gen(): ... break             co_await gen.async_resume(use_awaitable) loop
//   producer task + asyncio.Queue(maxsize)      Stream: a task feeding an experimental::channel
//   await agen.aclose() / contextlib.aclosing   co_await stream.aclose(), pushed on the stack
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "exit_stack.hpp"
#include "gather.hpp"  // lesson 003: describe()
#include "how_it_is_built.hpp"  // Stream
#include "log.hpp"
#include "timeouts.hpp"  // lesson 014: sleep()

namespace lesson021 {

using lesson014::sleep;  // asyncio.sleep
using std::chrono::milliseconds;

/// The leak counter and the journal of what happened, shared by everything in one run.
struct Tracker {
  milliseconds delay{100};          // how long opening, closing and each step take
  int open = 0;                     // opened and not released yet: 0 means nothing leaked
  std::vector<std::string> events;  // the log without the times: "a open", "a closed", ...
  void note(const std::string& who, const std::string& what) {  // logs it and records it
    tut::log(who, "{}", what);
    events.push_back(who + " " + what);
  }
};

using lesson003::describe;  // "none", "cancelled" or "error: <what()>"

enum class Fault { none, opening, closing };   // what open_resource() fails at
enum class Ending { returns, throws, waits };  // how use_resource()'s body ends (waits: 1 h)

/// An @asynccontextmanager: opens `name` in tracker->delay. Its exit says goodbye (an await),
/// releases the resource even if a second cancel interrupts the goodbye, and never suppresses
/// an error. Events: "<name> open", "<name> closing (<describe(error)> propagating)",
/// "<name> closed" (+ ", goodbye interrupted").
asio::awaitable<Entered<std::string>> open_resource(std::string name,
                                                    std::shared_ptr<Tracker> tracker,
                                                    Fault fault = Fault::none);

/// `async with open_resource(name) as r:` a body that ends as told; returns "used <name>".
asio::awaitable<std::string> use_resource(std::string name, Ending ending,
                                          std::shared_ptr<Tracker> tracker,
                                          Fault fault = Fault::none);

/// An AsyncExitStack: opens the resources in order, closes them in reverse; returns how many.
struct Spec { std::string name; Fault fault = Fault::none; };
asio::awaitable<std::size_t> open_all(std::vector<Spec> specs, std::shared_ptr<Tracker> tracker);

/// A stream 1, 2, ... `to`. The consumer breaks after `stop_after` values (0: never); the
/// producer throws at `fail_at` (0: never).
struct Count { int to = 5; std::size_t stop_after = 0; int fail_at = 0; };

/// `async for x in count():` over a coro generator that makes each value only when asked
/// (tracker->delay each) and holds an RAII guard (open 1 until its frame is destroyed).
asio::awaitable<std::vector<int>> take_lazily(Count count, std::shared_ptr<Tracker> tracker);

/// The producer task: inside `async with open_resource("source")`, sends 1..count.to into
/// `out` as fast as the channel takes them.
asio::awaitable<void> count_into(std::shared_ptr<Stream::Channel> out, Count count,
                                 std::shared_ptr<Tracker> tracker);

/// `async with aclosing(stream): async for x in stream:` over count_into(), a consumer taking
/// 2 * tracker->delay per value.
asio::awaitable<std::vector<int>> take_from_stream(std::size_t capacity, Count count,
                                                   std::shared_ptr<Tracker> tracker);

}  // namespace lesson021
