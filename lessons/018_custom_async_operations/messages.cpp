// Lesson 018: the error category. The operations themselves are templates in messages.hpp
// and messages_impl.hpp.
#include "messages.hpp"

namespace lesson018 {

namespace {
class MessageCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "lesson018.message"; }
  std::string message(int value) const override {
    switch (static_cast<message_error>(value)) {
      case message_error::not_a_number: return "not a number";
      case message_error::message_too_long: return "message too long";
    }
    return "unknown message error";
  }
};
}  // namespace

const std::error_category& message_category() {
  static const MessageCategory category;
  return category;
}

}  // namespace lesson018
