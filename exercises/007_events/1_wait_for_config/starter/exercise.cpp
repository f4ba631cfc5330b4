// Exercise 007.1: readers that wait for the configuration (lesson 007, events).
// load_config() fills in the greeting after a while; read_greeting() may start before that,
// and then returns an empty greeting. Make the readers wait, without polling, until the
// loader says the configuration is loaded, with the config's lesson007::Event.
// Check it: ./tutorial exercise check 007.1   (stuck? ./tutorial exercise hint 007.1)
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "async_event.hpp"  // lesson007::Event: co_await event.wait(); event.set();
#include "sleep.hpp"        // tut::sleep(delay)

namespace exercise {

using namespace std::chrono_literals;

struct Config {
  explicit Config(asio::any_io_executor executor) : loaded(std::move(executor)) {}
  std::string greeting;     // empty until load_config() has filled it in
  lesson007::Event loaded;  // to be set once the greeting is filled in
};

asio::awaitable<void> load_config(std::shared_ptr<Config> config) {
  co_await tut::sleep(50ms);  // reading the configuration file
  config->greeting = "hello";
  // TODO (1 of 2): tell every reader, waiting now or coming later, that it is loaded.
}

asio::awaitable<std::string> read_greeting(std::shared_ptr<Config> config) {
  // TODO (2 of 2): before load_config() has run, the greeting is still empty. Wait until it
  // is loaded; once it is, return at once.
  co_return config->greeting;
}

}  // namespace exercise
