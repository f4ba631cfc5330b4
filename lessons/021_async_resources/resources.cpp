// Lesson 021: async resources: a scope that awaits its cleanup on every exit path, an exit
// stack, and two ways to iterate asynchronously (a lazy generator, a producer task).
#include "resources.hpp"

#include <stdexcept>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/coro.hpp>
#include <asio/experimental/use_coro.hpp>

namespace lesson021 {

// The part of @asynccontextmanager after the `yield`, as a `finally:`.
static asio::awaitable<bool> close_resource(std::string name, std::shared_ptr<Tracker> tracker,
                                            Fault fault, std::exception_ptr error) {
  tracker->note(name, "closing (" + describe(error) + " propagating)");
  std::exception_ptr interrupted;
  try {
    co_await sleep(tracker->delay);  // say goodbye to the peer: an await in the cleanup
  } catch (...) {
    interrupted = std::current_exception();  // a second cancel(): release it all the same
  }
  --tracker->open;
  tracker->note(name, interrupted ? "closed, goodbye interrupted" : "closed");
  if (interrupted) std::rethrow_exception(interrupted);
  if (fault == Fault::closing) throw std::runtime_error("closing " + name + " failed");
  co_return false;  // never suppresses the error
}

asio::awaitable<Entered<std::string>> open_resource(std::string name,
                                                    std::shared_ptr<Tracker> tracker,
                                                    Fault fault) {
  co_await sleep(tracker->delay);  // the part before the `yield`
  if (fault == Fault::opening) throw std::runtime_error("opening " + name + " failed");
  ++tracker->open;
  tracker->note(name, "open");
  Exit exit = [name, tracker, fault](std::exception_ptr error) {
    return close_resource(name, tracker, fault, error);
  };
  co_return Entered<std::string>{name, std::move(exit)};
}

asio::awaitable<std::string> use_resource(std::string name, Ending ending,
                                          std::shared_ptr<Tracker> tracker, Fault fault) {
  auto body = [ending](std::string& resource) -> asio::awaitable<std::string> {
    tut::log(resource, "in use");
    if (ending == Ending::throws) throw std::runtime_error("body failed");
    if (ending == Ending::waits) co_await sleep(std::chrono::hours(1));
    co_return "used " + resource;
  };
  auto opener = open_resource(name, tracker, fault);
  co_return co_await async_with(std::move(opener), std::move(body));
}

asio::awaitable<std::size_t> open_all(std::vector<Spec> specs, std::shared_ptr<Tracker> tracker) {
  auto body = [specs, tracker](AsyncExitStack& stack) -> asio::awaitable<std::size_t> {
    for (const auto& spec : specs) {
      auto opener = open_resource(spec.name, tracker, spec.fault);
      co_await stack.enter_async_context(std::move(opener));  // a failure closes those before
    }
    tut::log("main", "all {} open; leaving the scope closes them in reverse", stack.size());
    co_return stack.size();
  };
  co_return co_await with_exit_stack(std::move(body));
}

namespace {

// A plain, synchronous resource: its destructor is all the cleanup it gets.
struct Guard {
  std::shared_ptr<Tracker> tracker;
  ~Guard() { --tracker->open; tracker->note("generator", "frame destroyed: guard released"); }
};

// `async def count(): for i in ...: await sleep(); yield i`. asio::experimental::coro is
// experimental in every Asio release and its API changed after 1.22: this lesson uses only
// coro<int>, async_resume(use_awaitable) and use_coro. The first parameter is its executor; it
// runs only while the consumer awaits async_resume(). `break` destroys its frame: destructors
// run, but nothing in it can co_await any more (Python's aclose() throws GeneratorExit at the
// yield and its `finally:` may await). A producer whose cleanup awaits is a task: Stream.
asio::experimental::coro<int> count_lazily(asio::any_io_executor executor, Count count,
                                           std::shared_ptr<Tracker> tracker) {
  ++tracker->open;
  Guard guard{tracker};
  asio::steady_timer timer(executor);
  for (int i = 1; i <= count.to; ++i) {
    timer.expires_after(tracker->delay);
    co_await timer.async_wait(asio::experimental::use_coro);  // inside a coro: use_coro
    if (i == count.fail_at) throw std::runtime_error("generator failed at " + std::to_string(i));
    tracker->note("generator", "yield " + std::to_string(i));
    co_yield i;
  }
}

}  // namespace

asio::awaitable<std::vector<int>> take_lazily(Count count, std::shared_ptr<Tracker> tracker) {
  auto executor = co_await asio::this_coro::executor;
  auto generator = count_lazily(executor, count, tracker);
  std::vector<int> got;
  for (;;) {
    // __anext__: runs the generator up to its next co_yield; std::nullopt once it returned.
    std::optional<int> value = co_await generator.async_resume(asio::use_awaitable);
    if (!value) break;
    tracker->note("consumer", "got " + std::to_string(*value));
    got.push_back(*value);
    if (got.size() == count.stop_after) {
      tut::log("consumer", "break");
      break;
    }
  }
  co_return got;  // destroys `generator`: its frame and the guard in it, synchronously
}

asio::awaitable<void> count_into(std::shared_ptr<Stream::Channel> out, Count count,
                                 std::shared_ptr<Tracker> tracker) {
  auto body = [out, count, tracker](std::string&) -> asio::awaitable<void> {
    for (int i = 1; i <= count.to; ++i) {
      if (i == count.fail_at) throw std::runtime_error("producer failed at " + std::to_string(i));
      if (!out->try_send(asio::error_code(), i)) {
        tut::log("producer", "channel full: send({}) waits for the consumer", i);
        co_await Stream::send(out, i);  // back-pressure: resumes when the consumer takes one
      }
      tracker->note("producer", "sent " + std::to_string(i));
    }
  };
  auto opener = open_resource("source", tracker);
  co_await async_with(std::move(opener), std::move(body));
}

asio::awaitable<std::vector<int>> take_from_stream(std::size_t capacity, Count count,
                                                   std::shared_ptr<Tracker> tracker) {
  auto producer = [count, tracker](auto out) { return count_into(out, count, tracker); };
  auto executor = co_await asio::this_coro::executor;
  auto stream = std::make_shared<Stream>(executor, capacity, producer);
  auto body = [stream, count, tracker](AsyncExitStack& stack) -> asio::awaitable<std::vector<int>> {
    stack.push_async_callback([stream] { return stream->aclose(); });  // contextlib.aclosing
    std::vector<int> got;
    for (;;) {
      std::optional<int> value = co_await stream->next();
      if (!value) break;
      tracker->events.push_back("consumer got " + std::to_string(*value));
      got.push_back(*value);
      // A slow consumer (twice the producer's step: no two timers in one 0.1 s tick). It logs
      // after the work: the receive resumes it and the waiting producer in either order.
      co_await sleep(2 * tracker->delay);
      tut::log("consumer", "done with {}", *value);
      if (got.size() == count.stop_after) {
        tut::log("consumer", "break: aclose() stops the producer");
        break;
      }
    }
    co_return got;
  };
  co_return co_await with_exit_stack(std::move(body));
}

}  // namespace lesson021
