// The one place that knows which Asio release we are built against.
//
// Asio 1.22 (Debian 12) keeps `deferred` and `as_tuple` in asio::experimental; Asio 1.24 and
// later moved them to asio::. Lessons write `compat::deferred` and `compat::as_tuple` and never
// test ASIO_VERSION themselves. Everything that is still experimental in every release we
// support (awaitable operators, parallel_group, channels, promise) is spelled with its real
// name, asio::experimental::..., in the lessons.
#pragma once

#include <asio.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/experimental/parallel_group.hpp>

#if ASIO_VERSION < 102400
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#endif

namespace compat {
#if ASIO_VERSION >= 102400
using asio::as_tuple;
using asio::deferred;
#else
using asio::experimental::as_tuple;
using asio::experimental::deferred;
#endif
}  // namespace compat
