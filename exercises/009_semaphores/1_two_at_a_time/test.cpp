// Tests of exercise 009.1 (exercise.cpp next to this file): download_all() runs on a real event
// loop with a download() that counts how many downloads run at once.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "sleep.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {
int in_flight = 0;
int max_in_flight = 0;
}  // namespace

namespace exercise {
asio::awaitable<std::string> download(std::string url) {
  ++in_flight;
  max_in_flight = std::max(max_in_flight, in_flight);
  co_await tut::sleep(30ms);
  --in_flight;
  co_return "page of " + url;
}
asio::awaitable<std::vector<std::string>> download_all(std::vector<std::string> urls, int limit);
}  // namespace exercise

namespace {
std::vector<std::string> six_urls() { return {"a", "b", "c", "d", "e", "f"}; }

std::vector<std::string> download_all(std::vector<std::string> urls, int limit) {
  in_flight = 0;
  max_in_flight = 0;
  return tut::test::run_within(exercise::download_all(std::move(urls), limit), 5s);
}
}  // namespace

TEST_CASE("download_all returns every page, in the order given") {
  auto pages = download_all(six_urls(), 2);
  CHECK(pages == std::vector<std::string>{"page of a", "page of b", "page of c", "page of d",
                                          "page of e", "page of f"});
}

TEST_CASE("with limit 2, at most two downloads run at once, and two do") {
  download_all(six_urls(), 2);
  INFO("at most " << max_in_flight << " downloads ran at once; expected 2 (the limit)");
  CHECK(max_in_flight == 2);
}

TEST_CASE("with limit 1, the downloads run one at a time") {
  download_all(six_urls(), 1);
  INFO("at most " << max_in_flight << " downloads ran at once; expected 1 (the limit)");
  CHECK(max_in_flight == 1);
}

TEST_CASE("with a limit above the number of URLs, they all run at once") {
  download_all(six_urls(), 10);
  CHECK(max_in_flight == 6);
}
