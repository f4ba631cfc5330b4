// The skip rule of every lesson's tests (tut::test::peer_available): a test whose real peer is
// missing is reported as skipped, never as passed, and under TUTORIAL_NO_SKIP (CI) it fails.
// The top-level CMakeLists.txt runs this program both ways.
#include "test_support.hpp"

TEST_CASE("a missing peer skips the test or fails it under TUTORIAL_NO_SKIP") {
  if (!tut::test::peer_available(false, "a peer that no machine has")) return;
  FAIL("peer_available(false, ...) returned true");
}

TEST_CASE("a present peer lets the test run") {
  CHECK(tut::test::peer_available(true, "unused"));
}
