// Lesson 021: async resources. What the demo and the tests call; the reusable exit stack is in
// exit_stack.hpp.
//
//   asyncio                                     this lesson
//   async def gen(): ... yield x                asio::experimental::coro<int> (take_lazily)
//   async for x in gen(): ... break             co_await gen.async_resume(use_awaitable) loop
//   producer task + asyncio.Queue(maxsize)      Stream: a task feeding an experimental::channel
//   await agen.aclose() / contextlib.aclosing   co_await stream.aclose(), pushed on the stack
//
// Where C++ differs, and why:
// - asio::experimental::coro is experimental in every Asio release and its API changed after
//   1.22 (traits, allocators, how it awaits operations): this lesson uses only what 1.22 and
//   later share, coro<int>, async_resume(use_awaitable) and use_coro. `break` destroys the
//   coro's frame: destructors run, but nothing in it can co_await any more (Python's aclose()
//   throws GeneratorExit at the yield and its `finally:` may await). A producer whose cleanup
//   awaits is therefore a task: Stream.
// - A Stream destroyed without aclose() cancels its producer and does not wait for it
//   (asyncio finalises a forgotten generator later too, through the loop's asyncgen hooks).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/channel.hpp>

#include "exit_stack.hpp"

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

/// What open_resource() should fail at.
enum class Fault { none, opening, closing };

/// An @asynccontextmanager: opens `name` (takes tracker->delay; with Fault::opening it throws
/// std::runtime_error instead, and nothing is open). Its exit says goodbye (tracker->delay),
/// releases the resource even if the goodbye was interrupted, and with Fault::closing then
/// throws std::runtime_error("closing <name> failed"). It never suppresses an error.
/// Events: "open <name>", "close <name> sees <describe(error)>", "closed <name>" (with
/// ", goodbye interrupted" if a second cancellation cut the goodbye short).
asio::awaitable<Entered<std::string>> open_resource(std::string name,
                                                    std::shared_ptr<Tracker> tracker,
                                                    Fault fault = Fault::none);

/// How the body of use_resource() ends.
enum class Ending { returns, throws, waits };  // waits: an hour, until it is cancelled

/// `async with open_resource(name) as r:` a body that ends as told. Returns "used <name>";
/// throws std::runtime_error("body failed") for Ending::throws.
asio::awaitable<std::string> use_resource(std::string name, Ending ending,
                                          std::shared_ptr<Tracker> tracker,
                                          Fault fault = Fault::none);

/// One resource for open_all().
struct Spec {
  std::string name;
  Fault fault = Fault::none;
};

/// An AsyncExitStack: opens each resource in order, uses them, closes them in reverse.
/// Returns how many it opened; a resource that fails to open closes the ones before it.
asio::awaitable<std::size_t> open_all(std::vector<Spec> specs, std::shared_ptr<Tracker> tracker);

/// What a counting stream produces: 1, 2, ... `to`. The consumer stops (break) after
/// `stop_after` values (0: never); the producer throws std::runtime_error at `fail_at`
/// (0: never) instead of producing it.
struct Count {
  int to = 5;
  std::size_t stop_after = 0;
  int fail_at = 0;
};

/// `async for x in count(): ...` over an asio::experimental::coro generator that produces
/// each value only when asked (tracker->delay each) and holds an RAII guard (open count 1,
/// released when its frame is destroyed). Returns the values taken.
/// Events: "yield <n>", "got <n>", "generator released".
asio::awaitable<std::vector<int>> take_lazily(Count count, std::shared_ptr<Tracker> tracker);

/// An async iterator fed by a producer task through a bounded channel. Use from one executor.
class Stream {
 public:
  using Channel = asio::experimental::channel<void(asio::error_code, int)>;
  /// The producer: sends values into the channel, returns at the end, throws on failure.
  using Producer = std::function<asio::awaitable<void>(std::shared_ptr<Channel>)>;

  /// Starts `producer` as a task of its own; the channel buffers up to `capacity` values, so
  /// the producer waits (back-pressure) when the consumer is that far behind.
  Stream(asio::any_io_executor executor, std::size_t capacity, Producer producer);
  /// Not closed: cancels the producer (its cleanup still runs, later) and does not wait.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  /// __anext__: the next value; std::nullopt at the end (StopAsyncIteration) or once closed.
  /// The producer's exception is rethrown here after the values it sent before it.
  asio::awaitable<std::optional<int>> next();

  /// aclose(): cancels the producer and waits until it has finished, cleanup included. Call
  /// it once; harmless once the producer has finished.
  asio::awaitable<void> aclose();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// The producer of take_from_stream(): inside `async with open_resource("source")` it sends
/// 1..count.to as fast as the channel takes them, logging when the channel is full.
Stream::Producer count_into(Count count, std::shared_ptr<Tracker> tracker);

/// `async with aclosing(stream): async for x in stream:` with a consumer that takes
/// 2 * tracker->delay per value. Returns the values taken.
/// Events: "sent <n>", "got <n>", and those of the producer's resource, "source".
asio::awaitable<std::vector<int>> take_from_stream(std::size_t capacity, Count count,
                                                   std::shared_ptr<Tracker> tracker);

}  // namespace lesson021
