// The one place that knows which Asio release we are built against. Lessons write compat::...
// and never test ASIO_VERSION themselves. Proven on Asio 1.22.1 (Debian 12) and 1.38.2 (see the
// README's "Verified on"); the version numbers below come from Asio's revision history.
//
// - `deferred` and `as_tuple` live in asio::experimental in 1.22 and in asio:: from 1.24 (the
//   old experimental names are deprecated, hidden by ASIO_NO_DEPRECATED, then removed).
// - experimental::promise: waited on with promise.async_wait(token) and asked complete() up to
//   1.24; from 1.25 it is promise(token) and completed(), and use_promise has its own header.
// - experimental::channel::close() with messages still buffered: up to 1.26 the buffered
//   messages are discarded; from 1.27 the receiver still gets them, then the error.
// Everything that is still experimental in every release we support (awaitable operators,
// parallel_group, channels, promise) is spelled with its real name, asio::experimental::...
#pragma once

#include <utility>

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/experimental/promise.hpp>

#if ASIO_VERSION < 102400
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#endif
#if ASIO_VERSION >= 102500
#include <asio/experimental/use_promise.hpp>
#endif

namespace compat {
#if ASIO_VERSION >= 102400
using asio::as_tuple;
using asio::deferred;
#else
using asio::experimental::as_tuple;
using asio::experimental::deferred;
#endif

/// Waits for an asio::experimental::promise with any completion token (co_await
/// compat::wait_for(promise, asio::use_awaitable)): promise.async_wait(token) before Asio 1.25,
/// promise(token) from 1.25.
template <typename Promise, typename CompletionToken>
auto wait_for(Promise& promise, CompletionToken&& token) {
#if ASIO_VERSION >= 102500
  return promise(std::forward<CompletionToken>(token));
#else
  return promise.async_wait(std::forward<CompletionToken>(token));
#endif
}

/// Whether an asio::experimental::promise has its result: complete() before 1.25, completed()
/// from 1.25.
template <typename Promise>
bool is_completed(const Promise& promise) {
#if ASIO_VERSION >= 102500
  return promise.completed();
#else
  return promise.complete();
#endif
}

/// What experimental::channel::close() does to messages still in the buffer: false up to Asio
/// 1.26 (discarded: the receiver gets the error at once), true from 1.27 (each is still
/// received, then the error). An end-of-stream message works the same on both (lesson 019).
inline constexpr bool channel_close_keeps_buffered_messages = ASIO_VERSION >= 102700;

}  // namespace compat
