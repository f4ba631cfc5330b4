// Lesson 018: the two composed operations. They are templates (they work on any stream and
// any completion token), so they live in a header; read messages.hpp first.
#pragma once

#include <array>
#include <memory>

#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>

namespace lesson018 {

namespace detail {
inline std::array<unsigned char, 4> encode_length(std::uint32_t n) {
  return {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
          static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
}
inline std::uint32_t decode_length(const std::array<unsigned char, 4>& b) {
  return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3];
}

// The state of one read: a small state machine that async_compose calls again each time an
// inner operation completes. `self` carries the caller's handler, and with it the caller's
// executor and cancellation slot: passing `std::move(self)` as the inner operation's handler
// is what makes rules 2 and 3 hold without any code of ours.
template <typename Stream>
struct ReadMessage {
  Stream& stream;
  std::unique_ptr<std::array<unsigned char, 4>> header = std::make_unique<std::array<unsigned char, 4>>();
  std::unique_ptr<std::string> body = std::make_unique<std::string>();
  enum { starting, reading_header, reading_body } state = starting;

  template <typename Self>
  void operator()(Self& self, std::error_code error = {}, std::size_t = 0) {
    switch (state) {
      case starting:
        state = reading_header;
        asio::async_read(stream, asio::buffer(*header), std::move(self));
        return;
      case reading_header: {
        if (error) return self.complete(error, std::string{});
        // Rule 3 between steps: a cancellation that came while no inner read was pending
        // (after the header arrived, before this call) reached no operation; async_compose
        // only recorded it. Check it before starting the next step, or the read goes on.
        // (get_cancellation_state() is public; a bare self.cancelled() is not in Asio 1.22.)
        if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none)
          return self.complete(asio::error::operation_aborted, std::string{});
        auto size = decode_length(*header);
        if (size > max_message_size)
          return self.complete(make_error_code(message_error::message_too_long), std::string{});
        body->resize(size);
        state = reading_body;
        asio::async_read(stream, asio::buffer(*body), std::move(self));
        return;
      }
      case reading_body:
        if (error) return self.complete(error, std::string{});
        return self.complete(error, std::move(*body));
    }
  }
};

template <typename Stream>
struct WriteMessage {
  Stream& stream;
  std::unique_ptr<std::string> payload;
  std::unique_ptr<std::array<unsigned char, 4>> header;
  bool started = false;

  template <typename Self>
  void operator()(Self& self, std::error_code error = {}, std::size_t = 0) {
    if (!started) {
      started = true;
      // Header and body in one gathered write: one system call, no copy into one buffer.
      std::array<asio::const_buffer, 2> buffers{asio::buffer(*header), asio::buffer(*payload)};
      asio::async_write(stream, buffers, std::move(self));
      return;
    }
    self.complete(error);
  }
};
}  // namespace detail

template <typename Stream, typename Token>
auto async_write_message(Stream& stream, std::string payload, Token&& token) {
  auto size = static_cast<std::uint32_t>(payload.size());
  // The buffers live on the heap: the state object is moved from handler to handler, and a
  // buffer inside it would move away from under the pending write.
  detail::WriteMessage<Stream> operation{
      stream, std::make_unique<std::string>(std::move(payload)),
      std::make_unique<std::array<unsigned char, 4>>(detail::encode_length(size))};
  return asio::async_compose<Token, void(std::error_code)>(std::move(operation), token, stream);
}

template <typename Stream, typename Token>
auto async_read_message(Stream& stream, Token&& token) {
  // The trailing `stream` gives the operation the stream's executor: async_compose holds work
  // on it until complete(), and runs the steps there when the caller's handler names no
  // executor of its own. The work matters only between steps that run elsewhere (a handler
  // bound to another io_context): while an inner read is pending, that read is work already.
  return asio::async_compose<Token, void(std::error_code, std::string)>(
      detail::ReadMessage<Stream>{stream}, token, stream);
}

}  // namespace lesson018
