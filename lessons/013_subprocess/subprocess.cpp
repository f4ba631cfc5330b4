// Lesson 013: subprocesses. run(): one command with a timeout that escalates; run_all(): a
// batch with a concurrency limit; then Process's wait() (the child's exit, awaited without
// blocking the loop) and communicate() (all three pipes at once). Optional reading: how
// Process starts, reaps and signals a child (how_it_is_built.cpp), the pipe helpers
// read_to_end() and feed() (how_it_is_built.hpp).
#include "subprocess.hpp"

#include <algorithm>
#include <csignal>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "gather.hpp"  // lesson 003
#include "how_it_is_built.hpp"

namespace lesson013 {

using namespace asio::experimental::awaitable_operators;

namespace {

// communicate(), then tells enforce() that the child is done by cancelling its timer.
// Pointers, not references: coroutine parameters must not dangle (run() outlives both).
asio::awaitable<Output> talk(Process* process, std::string input, asio::steady_timer* timer) {
  auto talking = process->communicate(std::move(input));
  Output output = co_await std::move(talking);
  timer->cancel();
  co_return output;
}

// The timeout policy, run next to talk(): give the child `timeout` to finish, then ask its
// process group to stop (SIGTERM, which it may catch to clean up), then force it (SIGKILL)
// after `grace`. The whole group: a grandchild (a shell's command run without exec) holds
// the child's pipes too, and communicate() ends only when the last holder has closed them.
// So "finished" means communicate() is done, not merely that the child exited.
// Returns whether it had to intervene. It never cancels communicate(): killing the group
// closes the pipes, so communicate() ends by itself with everything written so far.
// (Each co_await is its own statement: g++ 12 miscompiles a co_await inside an if condition.)
asio::awaitable<bool> enforce(Process* process, asio::steady_timer* timer, std::string name,
                              Limits limits) {
  // talk() cancels the timer once the child is done: an error here means "done in time".
  // The timer may also expire in the same turn as talk() finishes: the returncode tells.
  auto [in_time] = co_await timer->async_wait(compat::as_tuple(asio::use_awaitable));
  if (in_time || process->returncode()) co_return false;
  tut::log(name, "still running after {}: SIGTERM to its group", tut::seconds(limits.timeout));
  process->signal_group(SIGTERM);
  timer->expires_after(limits.grace);
  auto [in_grace] = co_await timer->async_wait(compat::as_tuple(asio::use_awaitable));
  if (in_grace || process->returncode()) co_return true;
  tut::log(name, "ignored SIGTERM for {}: SIGKILL to its group", tut::seconds(limits.grace));
  process->signal_group(SIGKILL);
  co_return true;
}

}  // namespace

asio::awaitable<Completed> run(Command command) {
  auto executor = co_await asio::this_coro::executor;
  Completed result;
  result.name = command.name;
  result.started = tut::clock::now();
  tut::log(command.name, "start: {}", command_line(command.argv));

  Process process = Process::exec(executor, command.argv);
  result.pid = process.pid();
  asio::steady_timer timer(executor, command.limits.timeout);
  auto talking = talk(&process, std::move(command.input), &timer);
  auto policing = enforce(&process, &timer, command.name, command.limits);
  auto [output, timed_out] = co_await (std::move(talking) && std::move(policing));

  result.finished = tut::clock::now();
  result.returncode = output.returncode;
  result.timed_out = timed_out;
  tut::log(command.name, "{}", summary(output));
  result.out = std::move(output.out);
  result.err = std::move(output.err);
  co_return result;
}

namespace {

// What the workers of run_all share. Single-threaded: no lock needed.
struct Batch {
  std::vector<Command> commands;
  std::vector<Completed> results;
  std::size_t next = 0;
};

// A worker takes the next command, runs it, and repeats. N workers mean at most N children
// at once: the same effect as an asyncio.Semaphore(N) around each run, with nothing to
// acquire or release. The batch lives in run_all's frame, which awaits every worker.
// Returns how many commands this worker ran (lesson 003's gather wants a value).
asio::awaitable<std::size_t> worker(Batch* batch) {
  std::size_t ran = 0;
  while (batch->next < batch->commands.size()) {
    ++ran;
    std::size_t index = batch->next++;
    Command& command = batch->commands[index];
    try {
      batch->results[index] = co_await run(command);
    } catch (const std::system_error& error) {
      if (error.code() == asio::error::operation_aborted) throw;  // we were cancelled: stop
      tut::log(command.name, "error: {}", error.what());
      batch->results[index].name = command.name;
      batch->results[index].error = error.what();
    }
  }
  co_return ran;
}

}  // namespace

asio::awaitable<std::vector<Completed>> run_all(std::vector<Command> commands,
                                                std::size_t limit) {
  if (limit == 0) throw std::invalid_argument("run_all: the limit must be at least 1");
  Batch batch{std::move(commands), {}, 0};
  batch.results.resize(batch.commands.size());

  // asyncio.gather(*workers), lesson 003's: all run at once; if one fails (a cancellation),
  // the others are cancelled and awaited before the error goes on.
  std::vector<asio::awaitable<std::size_t>> workers;
  for (std::size_t i = 0; i < std::min(limit, batch.commands.size()); ++i)
    workers.push_back(worker(&batch));
  co_await lesson003::gather(std::move(workers));
  co_return std::move(batch.results);
}

// ---- The two coroutines of Process that run() relies on ----------------------------------

asio::awaitable<int> Process::wait() {
  while (!try_reap()) {
    // The pidfd becomes readable when the child exits; the io_context runs other work
    // meanwhile. Several wait() calls may be pending at once: all wake, one reaps.
    co_await exit_event_.async_wait(asio::posix::stream_descriptor::wait_read,
                                    asio::use_awaitable);
  }
  co_return *returncode_;
}

asio::awaitable<Output> Process::communicate(std::string input) {
  // Three things at once. Done one after the other, a child that writes more than a pipe
  // holds (64 KiB) to stderr while we wait for stdout's EOF would block forever, and so
  // would we. `&&` waits for all three; if one fails the others are cancelled.
  auto feeding = feed(stdin_, std::move(input));
  auto streams = std::move(feeding) && read_to_end(stdout_) && read_to_end(stderr_);
  auto [out, err] = co_await std::move(streams);
  // Then the exit, as asyncio does. Not earlier: while the pipes are open the child stays
  // unreaped (a zombie at worst), which keeps its pid, the id of its process group, from
  // being reused, so signal_group() cannot reach a stranger.
  int returncode = co_await wait();
  co_return Output{std::move(out), std::move(err), returncode};
}

}  // namespace lesson013
