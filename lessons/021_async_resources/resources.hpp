// Lesson 021: async resources. What the demo and the tests call; the exit stack is in
// exit_stack.hpp, the Stream's own code in how_it_is_built.hpp/.cpp (optional reading).
//
//   asyncio                                     this lesson
//   async def gen(): ... yield x                asio::experimental::coro<int> (take_lazily)
//   async for x in gen(): ... break             co_await gen.async_resume(use_awaitable) loop
//   producer task + asyncio.Queue(maxsize)      Stream: a task feeding an experimental::channel
//   await agen.aclose() / contextlib.aclosing   co_await stream.aclose(), pushed on the stack
//
// Where C++ differs: asio::experimental::coro is experimental in every Asio release and its
// API changed after 1.22; this lesson uses only coro<int>, async_resume(use_awaitable) and
// use_coro. `break` destroys the coro's frame: destructors run, but nothing in it can co_await
// any more (Python's aclose() throws GeneratorExit at the yield and its `finally:` may await).
// A producer whose cleanup awaits is therefore a task: Stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "exit_stack.hpp"
#include "how_it_is_built.hpp"  // Stream

namespace lesson021 {

using std::chrono::milliseconds;

/// The leak counter and the journal of what happened, shared by everything in one run.
struct Tracker {
  milliseconds delay{100};          // how long opening, closing and each step take
  int open = 0;                     // opened and not released yet: 0 means nothing leaked
  std::vector<std::string> events;  // "open a", "close a sees error: boom", "closed a", ...
  void add(std::string event) { events.push_back(std::move(event)); }
};

/// "none", "cancelled" (operation_aborted) or "error: <what()>".
std::string describe(std::exception_ptr error);

enum class Fault { none, opening, closing };  // what open_resource() should fail at

/// An @asynccontextmanager: opens `name` in tracker->delay (Fault::opening: throws instead,
/// nothing open). Its exit says goodbye (tracker->delay), releases the resource even if a
/// second cancellation interrupted the goodbye, then with Fault::closing throws; it never
/// suppresses an error. Events: "open <name>", "close <name> sees <describe(error)>",
/// "closed <name>" (+ ", goodbye interrupted").
asio::awaitable<Entered<std::string>> open_resource(std::string name,
                                                    std::shared_ptr<Tracker> tracker,
                                                    Fault fault = Fault::none);

enum class Ending { returns, throws, waits };  // waits: an hour, until it is cancelled

/// `async with open_resource(name) as r:` a body that ends as told. Returns "used <name>";
/// Ending::throws throws std::runtime_error("body failed").
asio::awaitable<std::string> use_resource(std::string name, Ending ending,
                                          std::shared_ptr<Tracker> tracker,
                                          Fault fault = Fault::none);

struct Spec {  // one resource for open_all()
  std::string name;
  Fault fault = Fault::none;
};

/// An AsyncExitStack: opens each resource in order, closes them in reverse. Returns how many
/// it opened; a resource that fails to open closes the ones before it.
asio::awaitable<std::size_t> open_all(std::vector<Spec> specs, std::shared_ptr<Tracker> tracker);

/// A counting stream: 1, 2, ... `to`. The consumer stops (break) after `stop_after` values
/// (0: never); the producer throws std::runtime_error at `fail_at` (0: never) instead.
struct Count {
  int to = 5;
  std::size_t stop_after = 0;
  int fail_at = 0;
};

/// `async for x in count():` over a coro generator that produces each value only when asked
/// (tracker->delay each) and holds an RAII guard (open count 1 until its frame is destroyed).
/// Returns the values taken. Events: "yield <n>", "got <n>", "generator released".
asio::awaitable<std::vector<int>> take_lazily(Count count, std::shared_ptr<Tracker> tracker);

/// The producer of take_from_stream(): inside `async with open_resource("source")` it sends
/// 1..count.to as fast as the channel takes them, logging when the channel is full.
Stream::Producer count_into(Count count, std::shared_ptr<Tracker> tracker);

/// `async with aclosing(stream): async for x in stream:`, a consumer taking 2 * tracker->delay
/// per value. Returns the values taken. Events: "sent <n>", "got <n>", and the source's.
asio::awaitable<std::vector<int>> take_from_stream(std::size_t capacity, Count count,
                                                   std::shared_ptr<Tracker> tracker);

}  // namespace lesson021
