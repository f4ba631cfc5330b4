// Test support: what an exception_ptr holds, for checks and INFO messages. Not teaching code.
#pragma once

#include <exception>
#include <string>

namespace tut::test {

/// The what() of the exception in `error`; "" for none or one that is not a std::exception.
inline std::string message_of(const std::exception_ptr& error) {
  if (!error) return "";  // (rethrowing a null exception_ptr is undefined)
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "";
}

/// Whether `error` holds an exception of type E (or derived from it).
template <class E>
bool holds(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

}  // namespace tut::test
