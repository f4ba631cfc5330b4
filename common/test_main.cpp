// Catch2's main, compiled once for every lesson's test program. It silences the demo logger
// so test reports stay readable.
#define CATCH_CONFIG_RUNNER
#include "test_support.hpp"

#include "log.hpp"

#if TUTORIAL_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>
#endif

int main(int argc, char* argv[]) {
  tut::set_logging(false);
  return Catch::Session().run(argc, argv);
}
