// Tests of exercise 019.1 (exercise.cpp next to this file): upload_all() on a real event loop.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace exercise {
asio::awaitable<std::vector<std::string>> upload_all(std::vector<std::string> files);
}  // namespace exercise

namespace {
std::string joined(const std::vector<std::string>& paths) {
  std::string text;
  for (const auto& path : paths) text += (text.empty() ? "" : ", ") + path;
  return "[" + text + "]";
}
}  // namespace

TEST_CASE("one file: its path is uploaded") {
  auto uploaded = tut::test::run_within(exercise::upload_all({"a.txt"}), 5s);
  CHECK(joined(uploaded) == "[/uploads/a.txt]");
}

TEST_CASE("three files at once: each upload sends its own file, not the last one") {
  auto uploaded = tut::test::run_within(exercise::upload_all({"a.txt", "b.txt", "c.txt"}), 5s);
  std::sort(uploaded.begin(), uploaded.end());  // the order they finished in does not matter
  INFO("upload_all({a.txt, b.txt, c.txt}) uploaded " << joined(uploaded)
       << "; each upload must send its own file");
  CHECK(joined(uploaded) == "[/uploads/a.txt, /uploads/b.txt, /uploads/c.txt]");
}
