// Catch2's main, compiled once for every lesson's test program. It silences the demo logger
// so test reports stay readable.
#define CATCH_CONFIG_RUNNER
#include "test_support.hpp"

#include "log.hpp"

#if TUTORIAL_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>

#include <string_view>
#include <vector>
#endif

int main(int argc, char* argv[]) {
  tut::set_logging(false);
#if TUTORIAL_CATCH2_MAJOR >= 3
  // CTest passes Catch2 v2's `--warn NoTests` (a selection that runs nothing must fail).
  // Catch2 v3 does that by default and rejects the option, so drop it here.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i + 1 < argc && std::string_view(argv[i]) == "--warn" &&
        std::string_view(argv[i + 1]) == "NoTests") {
      ++i;
      continue;
    }
    args.push_back(argv[i]);
  }
  return Catch::Session().run(static_cast<int>(args.size()), args.data());
#else
  return Catch::Session().run(argc, argv);
#endif
}
