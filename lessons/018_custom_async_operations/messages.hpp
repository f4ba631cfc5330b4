// Lesson 018: writing your own asynchronous operations.
//
// Every Asio operation follows one contract: it takes a completion token as its last argument
// (a callback, asio::use_future, asio::use_awaitable, compat::deferred...), and the token decides
// what the call returns and how the result is delivered. Write your operations the same way and
// they work in callback code, in threads and in coroutines alike. asyncio has no equivalent
// (an `async def` is always awaited); the closest is writing a Protocol or a function that
// returns a Future.
//
// The three rules the operations below follow, as Asio's own do:
//  1. Never call the handler inside the initiating call: complete later, through the executor.
//  2. Complete on the handler's associated executor (so bind_executor(strand, cb) works).
//  3. Honour the handler's associated cancellation slot (so cancellation_signal and `||` work).
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/compose.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace lesson018 {

/// Errors of this lesson's operations, as a std::error_code category of their own so callers
/// can tell them apart from system errors.
enum class message_error { not_a_number = 1, message_too_long };
const std::error_category& message_category();
inline std::error_code make_error_code(message_error e) { return {static_cast<int>(e), message_category()}; }

/// Parses `text` as a decimal int. Stands for an operation with no I/O of its own: it still
/// completes through the executor, never inline (rule 1), on the handler's associated
/// executor (rule 2), falling back to `executor`. Signature: void(std::error_code, int).
template <typename Executor, typename Token>
auto async_parse_number(Executor executor, std::string text, Token&& token) {
  auto initiation = [](auto handler, Executor fallback, std::string digits) {
    int value = 0;
    std::error_code error;
    try {
      std::size_t used = 0;
      value = std::stoi(digits, &used);
      if (used != digits.size()) error = make_error_code(message_error::not_a_number);
    } catch (const std::exception&) {
      error = make_error_code(message_error::not_a_number);
    }
    // Rules 1 and 2: post the handler, with its result, to the executor it asked for.
    auto handler_executor = asio::get_associated_executor(handler, fallback);
    asio::post(handler_executor, [handler = std::move(handler), error, value]() mutable {
      std::move(handler)(error, value);
    });
  };
  return asio::async_initiate<Token, void(std::error_code, int)>(initiation, token,
                                                                  std::move(executor),
                                                                  std::move(text));
}

/// The largest message body async_read_message() accepts.
inline constexpr std::uint32_t max_message_size = 1 << 20;

/// Writes one message: a 4-byte big-endian length, then the bytes. A composed operation
/// (asio::async_compose) around asio::async_write. Signature: void(std::error_code).
template <typename Stream, typename Token>
auto async_write_message(Stream& stream, std::string payload, Token&& token);

/// Reads one message written by async_write_message(): the length, then exactly that many
/// bytes. Fails with message_error::message_too_long (without reading the body) above
/// max_message_size, with asio::error::eof if the peer closes before or inside a message, and
/// with asio::error::operation_aborted when cancelled through the handler's cancellation slot.
/// Signature: void(std::error_code, std::string).
template <typename Stream, typename Token>
auto async_read_message(Stream& stream, Token&& token);

}  // namespace lesson018

template <>
struct std::is_error_code_enum<lesson018::message_error> : std::true_type {};

#include "messages_impl.hpp"
