// How it is built (lesson 023, optional): ScriptedStream, the test double for a stream. A
// learner can skip this file and how_it_is_built.cpp (which also holds MockStore's code) at
// lesson 023: the tests show what both do. ScriptedStream is an Asio stream written by hand:
// async_read_some and async_write_some with asio::async_initiate, completing through the
// handler's associated executor (lesson 018 teaches both).
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/post.hpp>

namespace lesson023 {

/// tokio_test::io::Builder: a stream that plays a script. Reads return the canned bytes;
/// writes must match the expected bytes (a mismatch completes with invalid_argument and is
/// recorded in mismatch()); an error step fails the next read or write. Every operation
/// completes through asio::post, never inline, like a real socket's.
class ScriptedStream {
 public:
  using executor_type = asio::any_io_executor;
  explicit ScriptedStream(executor_type executor) : executor_(std::move(executor)) {}

  ScriptedStream& read(std::string bytes);
  ScriptedStream& write(std::string expected);
  ScriptedStream& error(std::error_code error);

  /// True once every step has been played (tokio's Mock panics on drop otherwise).
  bool done() const { return script_.empty(); }
  const std::string& mismatch() const { return mismatch_; }
  executor_type get_executor() const { return executor_; }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return start<false>(buffers, std::forward<Token>(token));
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return start<true>(buffers, std::forward<Token>(token));
  }

 private:
  struct Step {
    enum Kind { read, write, error } kind;
    std::string bytes;
    std::error_code code;
  };
  struct Result {
    std::error_code error;
    std::size_t bytes = 0;
    std::string data;  // what a read delivers
  };

  // Plays the next step against a write of `written`, or a read of at most `room` bytes.
  Result play(bool writing, const std::string& written, std::size_t room);

  // The operation plays its step when it starts, and completes through asio::post.
  template <bool writing, typename Buffers, typename Token>
  auto start(const Buffers& buffers, Token&& token) {
    auto initiation = [this](auto handler, Buffers target) {
      std::string written(writing ? asio::buffer_size(target) : 0, '\0');
      if constexpr (writing) asio::buffer_copy(asio::buffer(written), target);
      Result result = play(writing, written, asio::buffer_size(target));
      if constexpr (!writing) result.bytes = asio::buffer_copy(target, asio::buffer(result.data));
      auto executor = asio::get_associated_executor(handler, executor_);
      asio::post(executor, [handler = std::move(handler), result]() mutable {
        std::move(handler)(result.error, result.bytes);
      });
    };
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        std::move(initiation), token, buffers);
  }

  executor_type executor_;
  std::deque<Step> script_;
  std::string mismatch_;
};

}  // namespace lesson023
