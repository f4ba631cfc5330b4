// Exercise 007.1, a solution: the loader sets the event after filling in the greeting; each
// reader waits on it (at once if it is already set).
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_event.hpp"
#include "sleep.hpp"

namespace exercise {

using namespace std::chrono_literals;

struct Config {
  explicit Config(asio::any_io_executor executor) : loaded(std::move(executor)) {}
  std::string greeting;
  lesson007::Event loaded;
};

asio::awaitable<void> load_config(std::shared_ptr<Config> config) {
  co_await tut::sleep(50ms);
  config->greeting = "hello";
  config->loaded.set();
}

asio::awaitable<std::string> read_greeting(std::shared_ptr<Config> config) {
  co_await config->loaded.wait();
  co_return config->greeting;
}

}  // namespace exercise
