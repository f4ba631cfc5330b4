// Lesson 021: async resources: a scope that awaits its cleanup on every exit path, an exit
// stack, and two ways to iterate asynchronously (a lazy generator, a producer task).
#include "resources.hpp"

#include <stdexcept>
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/channel_error.hpp>
#include <asio/experimental/coro.hpp>
#include <asio/experimental/use_coro.hpp>

#include "compat.hpp"
#include "log.hpp"
#include "run.hpp"

namespace lesson021 {

// ------------------------------------------------------------------------- the exit stack

asio::awaitable<std::exception_ptr> AsyncExitStack::unwind(std::exception_ptr error) {
  // After a terminal cancellation every co_await would throw before it starts, and the
  // cleanup would be skipped. Turn that check off while the exits run (the request stays
  // recorded, and the filter is untouched), and put it back afterwards.
  const bool was_checking = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  while (!exits_.empty()) {
    Exit exit = std::move(exits_.back());  // kept alive in this frame while it runs
    exits_.pop_back();
    try {
      bool suppress = co_await exit(error);
      if (suppress) error = nullptr;  // the next exits see no error
    } catch (...) {
      error = std::current_exception();  // replaces the one propagating; go on closing
    }
  }
  co_await asio::this_coro::throw_if_cancelled(was_checking);
  co_return error;
}

asio::awaitable<void> AsyncExitStack::aclose() {
  std::exception_ptr error = co_await unwind(nullptr);
  if (error) std::rethrow_exception(error);
}

namespace {
asio::awaitable<bool> run_callback(Callback callback, std::exception_ptr) {
  co_await callback();
  co_return false;
}
}  // namespace

void AsyncExitStack::push_async_callback(Callback callback) {
  // A plain lambda that calls a coroutine, passing what it needs by value.
  push_async_exit([callback = std::move(callback)](std::exception_ptr error) {
    return run_callback(callback, error);
  });
}

// ------------------------------------------------------------------------- a resource

std::string describe(std::exception_ptr error) {
  if (!error) return "none";
  if (tut::is_cancellation(error)) return "cancelled";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  } catch (...) {
    return "error: unknown";
  }
}

namespace {

asio::awaitable<void> sleep_for(milliseconds delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
}

// The part of @asynccontextmanager after the `yield`, as a `finally:`.
asio::awaitable<bool> close_resource(std::string name, std::shared_ptr<Tracker> tracker,
                                     Fault fault, std::exception_ptr error) {
  tut::log(name, "closing ({} propagating)", describe(error));
  tracker->add("close " + name + " sees " + describe(error));
  std::exception_ptr interrupted;
  try {
    co_await sleep_for(tracker->delay);  // say goodbye to the peer: an await in the cleanup
  } catch (...) {
    interrupted = std::current_exception();  // a second cancel(): release it all the same
  }
  --tracker->open;
  tracker->add("closed " + name + (interrupted ? ", goodbye interrupted" : ""));
  tut::log(name, "closed{}", interrupted ? ", goodbye interrupted" : "");
  if (interrupted) std::rethrow_exception(interrupted);
  if (fault == Fault::closing) throw std::runtime_error("closing " + name + " failed");
  co_return false;  // never suppresses the error
}

}  // namespace

asio::awaitable<Entered<std::string>> open_resource(std::string name,
                                                    std::shared_ptr<Tracker> tracker,
                                                    Fault fault) {
  co_await sleep_for(tracker->delay);  // the part before the `yield`
  if (fault == Fault::opening) throw std::runtime_error("opening " + name + " failed");
  ++tracker->open;
  tracker->add("open " + name);
  tut::log(name, "open");
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
    if (ending == Ending::waits) co_await sleep_for(std::chrono::hours(1));
    co_return "used " + resource;
  };
  auto opener = open_resource(name, tracker, fault);
  co_return co_await async_with(std::move(opener), std::move(body));
}

asio::awaitable<std::size_t> open_all(std::vector<Spec> specs, std::shared_ptr<Tracker> tracker) {
  auto body = [specs, tracker](AsyncExitStack& stack) -> asio::awaitable<std::size_t> {
    for (const auto& spec : specs) {
      auto opener = open_resource(spec.name, tracker, spec.fault);
      co_await stack.enter_async_context(std::move(opener));
    }
    tut::log("main", "all {} open; leaving the scope closes them in reverse", stack.size());
    co_return stack.size();
  };
  co_return co_await with_exit_stack(std::move(body));
}

// ------------------------------------------------------------------------- a lazy generator

namespace {

// A plain, synchronous resource: its destructor is all the cleanup it gets.
struct Guard {
  std::shared_ptr<Tracker> tracker;
  explicit Guard(std::shared_ptr<Tracker> t) : tracker(std::move(t)) { ++tracker->open; }
  ~Guard() {
    --tracker->open;
    tracker->add("generator released");
    tut::log("generator", "frame destroyed: guard released");
  }
};

// `async def count(): for i in ...: await sleep(); yield i`. asio::experimental::coro: the first
// parameter is its executor; it runs only while the consumer awaits async_resume().
asio::experimental::coro<int> count_lazily(asio::any_io_executor executor, Count count,
                                           std::shared_ptr<Tracker> tracker) {
  Guard guard(tracker);
  asio::steady_timer timer(executor);
  for (int i = 1; i <= count.to; ++i) {
    timer.expires_after(tracker->delay);
    co_await timer.async_wait(asio::experimental::use_coro);  // inside a coro: use_coro
    if (i == count.fail_at) throw std::runtime_error("generator failed at " + std::to_string(i));
    tut::log("generator", "yield {}", i);
    tracker->add("yield " + std::to_string(i));
    co_yield i;
  }
}

}  // namespace

asio::awaitable<std::vector<int>> take_lazily(Count count, std::shared_ptr<Tracker> tracker) {
  auto executor = co_await asio::this_coro::executor;
  auto generator = count_lazily(executor, count, tracker);
  std::vector<int> got;
  for (;;) {
    // __anext__: runs the generator up to its next co_yield; std::nullopt when it returned.
    std::optional<int> value = co_await generator.async_resume(asio::use_awaitable);
    if (!value) break;
    tut::log("consumer", "got {}", *value);
    tracker->add("got " + std::to_string(*value));
    got.push_back(*value);
    if (got.size() == count.stop_after) {
      tut::log("consumer", "break");
      break;
    }
  }
  co_return got;  // destroys `generator`: its frame and the guard in it, synchronously
}

// ------------------------------------------------------------------------- a producer task

struct Stream::State {
  State(asio::any_io_executor executor, std::size_t capacity)
      : channel(std::make_shared<Channel>(executor, capacity)), finished(executor, 1) {}
  std::shared_ptr<Channel> channel;
  asio::cancellation_signal signal;  // the producer task's Task.cancel()
  // One message when the producer task has ended (bool unused: Asio 1.22 cannot build a
  // channel<void(error_code)>).
  asio::experimental::channel<void(asio::error_code, bool)> finished;
  std::exception_ptr error;  // the producer's, handed to the consumer after its values
  bool done = false, closing = false, ended = false;
};

namespace {

asio::awaitable<void> feed(std::shared_ptr<Stream::State> state, Stream::Producer producer) {
  if (state->closing) co_return;  // closed before it started
  try {
    co_await producer(state->channel);
  } catch (...) {
    state->error = std::current_exception();
  }
  if (state->closing) co_return;  // aclose() cancelled it: nobody reads any more
  // The end of the stream is a message queued after the values: channel::close() would drop
  // the buffered values in Asio 1.22.
  co_await state->channel->async_send(asio::error::eof, 0, asio::use_awaitable);
}

}  // namespace

Stream::Stream(asio::any_io_executor executor, std::size_t capacity, Producer producer)
    : state_(std::make_shared<State>(executor, capacity)) {
  auto on_done = [state = state_](std::exception_ptr) {  // feed() caught the producer's error;
    state->done = true;  // what is left is the end-of-stream send, aborted by a close
    state->finished.try_send(asio::error_code(), true);
  };
  asio::co_spawn(executor, feed(state_, std::move(producer)),
                 asio::bind_cancellation_slot(state_->signal.slot(), std::move(on_done)));
}

Stream::~Stream() {
  if (state_->done || state_->closing) return;
  state_->closing = true;
  state_->signal.emit(asio::cancellation_type::terminal);
}

asio::awaitable<std::optional<int>> Stream::next() {
  auto state = state_;
  if (state->ended) co_return std::nullopt;
  auto token = compat::as_tuple(asio::use_awaitable);
  auto received = co_await state->channel->async_receive(token);
  auto [code, value] = received;
  if (!code) co_return value;
  if (code == asio::experimental::error::channel_cancelled)  // our await was cancelled
    throw std::system_error(asio::error::operation_aborted, "Stream::next() cancelled");
  state->ended = true;
  if (state->error) std::rethrow_exception(state->error);
  co_return std::nullopt;
}

asio::awaitable<void> Stream::aclose() {
  auto state = state_;
  state->ended = true;
  if (state->done) co_return;
  state->closing = true;
  state->signal.emit(asio::cancellation_type::terminal);  // the producer's pending await throws
  co_await state->finished.async_receive(asio::use_awaitable);  // its cleanup has run
}

namespace {

asio::awaitable<void> produce(std::shared_ptr<Stream::Channel> out, Count count,
                              std::shared_ptr<Tracker> tracker) {
  auto body = [out, count, tracker](std::string&) -> asio::awaitable<void> {
    for (int i = 1; i <= count.to; ++i) {
      if (i == count.fail_at) throw std::runtime_error("producer failed at " + std::to_string(i));
      if (!out->try_send(asio::error_code(), i)) {
        tut::log("producer", "channel full: send({}) waits for the consumer", i);
        auto token = compat::as_tuple(asio::use_awaitable);
        auto sent = co_await out->async_send(asio::error_code(), i, token);
        auto [code] = sent;
        // A cancelled send reports channel_cancelled: report it as every cancelled operation.
        if (code == asio::experimental::error::channel_cancelled)
          throw std::system_error(asio::error::operation_aborted, "send cancelled");
        if (code) throw std::system_error(code);
      }
      tut::log("producer", "sent {}", i);
      tracker->add("sent " + std::to_string(i));
    }
  };
  auto opener = open_resource("source", tracker);
  co_await async_with(std::move(opener), std::move(body));
}

}  // namespace

Stream::Producer count_into(Count count, std::shared_ptr<Tracker> tracker) {
  return [count, tracker](std::shared_ptr<Stream::Channel> out) {
    return produce(std::move(out), count, tracker);
  };
}

asio::awaitable<std::vector<int>> take_from_stream(std::size_t capacity, Count count,
                                                   std::shared_ptr<Tracker> tracker) {
  auto executor = co_await asio::this_coro::executor;
  auto stream = std::make_shared<Stream>(executor, capacity, count_into(count, tracker));
  auto body = [stream, count, tracker](AsyncExitStack& stack) -> asio::awaitable<std::vector<int>> {
    stack.push_async_callback([stream] { return stream->aclose(); });  // contextlib.aclosing
    std::vector<int> got;
    for (;;) {
      std::optional<int> value = co_await stream->next();
      if (!value) break;
      tracker->add("got " + std::to_string(*value));
      got.push_back(*value);
      // A slow consumer, so the channel fills up: twice the producer's step, so that no two
      // timers expire in the same 0.1 s tick (their order would be a race). It logs after
      // the work, not on receipt: a receive that frees a slot resumes the consumer and the
      // waiting producer in the same step, in an order that differs between Asio versions.
      co_await sleep_for(2 * tracker->delay);
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
