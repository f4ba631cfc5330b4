// Tests of exercise 007.1 (exercise.cpp next to this file): the loader and three readers run
// as concurrent tasks on one event loop (lesson 003's gather for the readers).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include "async_event.hpp"
#include "gather.hpp"
#include "run.hpp"
#include "sleep.hpp"
#include "test_support.hpp"

namespace exercise {
struct Config {
  explicit Config(asio::any_io_executor executor) : loaded(std::move(executor)) {}
  std::string greeting;
  lesson007::Event loaded;
};
asio::awaitable<void> load_config(std::shared_ptr<Config> config);
asio::awaitable<std::string> read_greeting(std::shared_ptr<Config> config);
}  // namespace exercise

using namespace std::chrono_literals;

namespace {
struct Seen {
  std::vector<std::string> greetings;
  std::size_t waiting_during_load = 0;  // readers waiting on config->loaded at 25 ms
  bool set_after_load = false;
};

// The loader and three readers start together; a probe looks at the event at 25 ms.
asio::awaitable<Seen> load_and_read() {
  auto executor = co_await asio::this_coro::executor;
  auto config = std::make_shared<exercise::Config>(executor);
  auto seen = std::make_shared<Seen>();
  asio::co_spawn(executor, exercise::load_config(config), tut::rethrow);
  auto probe = [](std::shared_ptr<exercise::Config> c, std::shared_ptr<Seen> s) -> asio::awaitable<std::string> {
    co_await tut::sleep(25ms);
    s->waiting_during_load = c->loaded.waiting();
    co_return "probe";
  };
  std::vector<asio::awaitable<std::string>> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(exercise::read_greeting(config));
  readers.push_back(probe(config, seen));
  std::vector<std::string> got = co_await lesson003::gather(std::move(readers));
  got.pop_back();  // the probe's
  seen->greetings = std::move(got);
  seen->set_after_load = config->loaded.is_set();
  co_return *seen;
}
}  // namespace

TEST_CASE("three readers that start before the load all read the loaded greeting") {
  Seen seen = tut::test::run_within(load_and_read(), 5s);
  INFO("expected every reader to wait for load_config() and read \"hello\"");
  CHECK(seen.greetings == std::vector<std::string>{"hello", "hello", "hello"});
}

TEST_CASE("while the config loads, the three readers wait on the event (no polling)") {
  Seen seen = tut::test::run_within(load_and_read(), 5s);
  INFO("at 25 ms, " << seen.waiting_during_load << " tasks waited on config->loaded; expected 3");
  CHECK(seen.waiting_during_load == 3);
}

TEST_CASE("once loaded, the event stays set and a later reader returns at once") {
  auto later = []() -> asio::awaitable<std::string> {
    auto executor = co_await asio::this_coro::executor;
    auto config = std::make_shared<exercise::Config>(executor);
    co_await exercise::load_config(config);
    INFO("after load_config(), config->loaded.is_set() should be true");
    CHECK(config->loaded.is_set());
    std::string greeting = co_await exercise::read_greeting(config);
    co_return greeting;
  };
  CHECK(tut::test::run_within(later(), 5s) == "hello");
}
