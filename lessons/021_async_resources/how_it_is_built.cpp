// How it is built (lesson 021, optional): the exit stack's unwind() and the Stream's task.
// A learner can skip this file at this lesson; resources.cpp shows both in use. The task is
// lesson 005's Task, a channel's end-of-stream message lesson 019's.
#include <string>
#include <system_error>

#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/channel_error.hpp>

#include "compat.hpp"
#include "resources.hpp"
#include "run.hpp"

namespace lesson021 {

// ------------------------------------------------------------------------- the exit stack

asio::awaitable<std::exception_ptr> AsyncExitStack::unwind(std::exception_ptr error) {
  // A cancellation may arrive while the exits run (a second cancel, or the first one during
  // aclose()): with the check off, the exits after the one it interrupted still await.
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

// ------------------------------------------------------------------------------- Stream

struct Stream::State {
  State(asio::any_io_executor executor, std::size_t capacity)
      : channel(std::make_shared<Channel>(executor, capacity)) {}
  std::shared_ptr<Channel> channel;
  std::exception_ptr error;  // the producer's, handed to the consumer after its values
  bool closing = false, ended = false;
};

namespace {

// The producer's task (a lesson 005 Task, which returns a string). It never throws: the
// producer's error is the consumer's.
asio::awaitable<std::string> feed(std::shared_ptr<Stream::State> state,
                                  Stream::Producer producer) {
  if (state->closing) co_return "";  // closed before it started
  try {
    co_await producer(state->channel);
  } catch (...) {
    state->error = std::current_exception();
  }
  if (state->closing) co_return "";  // aclose() cancelled it: nobody reads any more
  // The end of the stream is a message queued after the values: channel::close() would drop
  // the buffered values in Asio 1.22. A close while it waits aborts it: nobody reads then.
  auto token = compat::as_tuple(asio::use_awaitable);
  co_await state->channel->async_send(asio::error::eof, 0, token);
  co_return "";
}

}  // namespace

Stream::Stream(asio::any_io_executor executor, std::size_t capacity, Producer producer)
    : state_(std::make_shared<State>(executor, capacity)),
      task_(executor, feed(state_, std::move(producer))) {}

Stream::~Stream() {
  if (!std::exchange(state_->closing, true)) task_.cancel();  // false once it has finished
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
  state_->ended = state_->closing = true;
  auto task = task_;              // a copy: this Stream may be gone when the await resumes
  if (!task.cancel()) co_return;  // it has finished already
  co_await task.result();         // the producer's pending await threw; its cleanup has run
}

asio::awaitable<void> Stream::send(std::shared_ptr<Channel> channel, int value) {
  auto token = compat::as_tuple(asio::use_awaitable);
  auto sent = co_await channel->async_send(asio::error_code(), value, token);
  auto [code] = sent;
  if (code == asio::experimental::error::channel_cancelled)  // as every cancelled operation
    throw std::system_error(asio::error::operation_aborted, "send cancelled");
  if (code) throw std::system_error(code);
}

}  // namespace lesson021
