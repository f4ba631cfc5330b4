// Lesson 015 demo: drive an io_context by hand (run, run_one, poll, stop, a work guard),
// watch post/dispatch/defer and coroutines go through its queue, then run one tiny program
// on a model event loop and on io_context, side by side.
#include <csignal>
#include <string>

#include <asio/io_context.hpp>
#include <fmt/core.h>

#include "event_loop.hpp"
#include "log.hpp"
#include "model_loop.hpp"

namespace {
void heading(const char* title) {
  static bool first = true;
  fmt::print("{}== {} ==\n", first ? "" : "\n", title);
  first = false;
}
void print_all(const std::vector<std::string>& lines) {
  for (auto& line : lines) fmt::print("{}\n", line);
}
}  // namespace

int main() {
  // Step order matters more than time in the first parts, so they print plain lines.
  lesson015::Say say = [](const std::string& line) { fmt::print("{}\n", line); };

  heading("1. run() runs handlers until it is out of work");
  lesson015::show_run(say);
  heading("2. run_one(), poll_one(), poll(), run_for()");
  lesson015::show_run_one_and_poll(say);
  heading("3. stop() and restart()");
  lesson015::show_stop_and_restart(say);
  heading("4. a work guard: asyncio's run_forever()");
  lesson015::show_work_guard(say);
  heading("5. post, dispatch, defer");
  print_all(lesson015::post_dispatch_defer_order());
  heading("6. signal_set: asyncio's add_signal_handler");
  for (int number : lesson015::catch_raised_signals(SIGUSR1, 2))
    fmt::print("caught signal {} (SIGUSR1 is {}) in a handler on the loop\n", number, SIGUSR1);
  heading("7. coroutines are resumed from the handler queue");
  print_all(lesson015::ping_pong(2));

  heading("8. one tiny program, a model loop and io_context");
  tut::reset_clock();
  lesson015::model::Loop model;
  lesson015::tiny_program(model, [](const std::string& line) { tut::log("model", "{}", line); });
  model.run_forever();
  tut::log("model", "run_forever() returned");

  tut::reset_clock();
  asio::io_context io;
  lesson015::AsioLoop loop(io);
  lesson015::tiny_program(loop, [](const std::string& line) { tut::log("asio", "{}", line); });
  loop.run_forever();
  tut::log("asio", "run_forever() returned");
}
