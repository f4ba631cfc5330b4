// Test support: the one header that hides the difference between Catch2 v2 (Debian 12) and
// Catch2 v3, plus run_within(), which fails a test that hangs instead of hanging the suite.
// Catch2 v2 is one header; v3 splits it, so every part a test uses is included here (proven
// with 2.13.10 and 3.7.1, see the README's "Verified on").
#pragma once

#if TUTORIAL_CATCH2_MAJOR >= 3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "run.hpp"

namespace tut::test {

#if TUTORIAL_CATCH2_MAJOR >= 3
using Catch::Matchers::ContainsSubstring;
#else
inline auto ContainsSubstring(const std::string& text) { return Catch::Matchers::Contains(text); }
#endif

/// Sets *flag when destroyed. As a local of a waiting coroutine it proves that the frame was
/// destroyed, its locals with it (the steady_timer rule that lessons 006-011 follow).
struct SetsFlagWhenDestroyed {
  bool* flag;
  ~SetsFlagWhenDestroyed() { *flag = true; }
};

/// True when the environment asks that nothing skip (.ci/run sets TUTORIAL_NO_SKIP=1: CI
/// installs every peer, so a missing one there is a defect, not a reason to skip).
inline bool skipping_forbidden() {
  const char* value = std::getenv("TUTORIAL_NO_SKIP");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

/// For a test whose real peer (a program, a Python package, a database server) may be missing
/// on a learner's machine:
///     if (!tut::test::peer_available(has_postgres, "PostgreSQL (apt-get install postgresql)"))
///       return;
/// Missing, it prints `TUTORIAL_SKIPPED: <what>` and returns false, and CTest reports the test
/// as skipped (cmake/lesson/CMakeLists.txt matches that text). Under TUTORIAL_NO_SKIP the test
/// fails instead. Never pass a missing peer off as a pass.
inline bool peer_available(bool available, const std::string& what_is_missing) {
  if (available) return true;
  if (skipping_forbidden())
    FAIL("missing: " << what_is_missing
                     << " (TUTORIAL_NO_SKIP is set: CI installs every peer, nothing may skip)");
  std::printf("TUTORIAL_SKIPPED: missing %s\n", what_is_missing.c_str());
  std::fflush(stdout);
  return false;
}

/// Like tut::run(), but throws if the coroutine has not finished within `limit`, so a test
/// whose coroutine waits forever fails in seconds with a clear message.
template <typename T>
T run_within(asio::awaitable<T> coroutine, std::chrono::steady_clock::duration limit =
                                               std::chrono::seconds(10)) {
  Completion<T> completion;
  asio::io_context context;
  spawn_into(context, std::move(coroutine), completion);
  context.run_for(limit);
  // run_for() returning with work left means the limit passed: something still waits.
  if (!completion.done || !context.stopped())
    throw std::runtime_error("the coroutine did not finish in time (hung?)");
  return completion.take();
}

}  // namespace tut::test
