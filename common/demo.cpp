#include "demo.hpp"

#include <cstdio>

#include <fmt/core.h>

#include "log.hpp"

namespace tut {

void part(std::string_view title) {
  fmt::print("\n== {} ==\n", title);
  std::fflush(stdout);  // before any line another thread or a child process prints
  reset_clock();
}

}  // namespace tut
