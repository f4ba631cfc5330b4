// How it is built: the model event loop of lesson 015 (see model_loop.hpp; optional reading).
// Read run_once(): it is the whole idea.
#include "model_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace lesson015::model {

void Loop::call_soon(Callback callback) { ready_.push_back(std::move(callback)); }

void Loop::call_later(clock::duration delay, Callback callback) {
  call_at(time() + delay, std::move(callback));
}

void Loop::call_at(clock::time_point when, Callback callback) {
  timers_.push_back(Timer{when, next_sequence_++, std::move(callback)});
  std::push_heap(timers_.begin(), timers_.end(), later);
}

void Loop::add_reader(int fd, Callback callback) {
  if (fd < 0) throw std::invalid_argument("add_reader: negative file descriptor");
  remove_reader(fd);  // like asyncio: a second add_reader replaces the first callback
  readers_.emplace_back(fd, std::move(callback));
}

bool Loop::remove_reader(int fd) {
  auto erased = std::erase_if(readers_, [fd](auto& reader) { return reader.first == fd; });
  return erased > 0;
}

std::size_t Loop::run_once() {
  // 1. How long may we sleep? poll(2) takes milliseconds: round up, so that we never wake
  //    before the deadline and spin.
  int timeout_ms = -1;  // -1: until an fd is ready
  if (!ready_.empty() || stopping_) {
    timeout_ms = 0;
  } else if (!timers_.empty()) {
    auto wait = timers_.front().when - time();
    timeout_ms = static_cast<int>(
        std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
  } else if (readers_.empty()) {
    throw std::logic_error("model loop: nothing to wait for, run_forever() would sleep forever");
  }

  // 2. Sleep until an fd is readable or the timeout passes: the only blocking call in the loop.
  std::vector<pollfd> fds;
  for (auto& [fd, callback] : readers_) fds.push_back(pollfd{fd, POLLIN, 0});
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");

  // 3. Queue the callbacks of readable fds, then of every timer that is due.
  for (auto& fd : fds) {
    if ((fd.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    auto reader = std::find_if(readers_.begin(), readers_.end(),
                               [&](auto& r) { return r.first == fd.fd; });
    if (reader != readers_.end()) ready_.push_back(reader->second);
  }
  auto now = time();
  while (!timers_.empty() && timers_.front().when <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), later);  // moves the earliest to the back
    ready_.push_back(std::move(timers_.back().callback));
    timers_.pop_back();
  }

  // 4. Run only what is ready now; what these callbacks schedule waits for the next iteration.
  std::size_t to_run = ready_.size();
  for (std::size_t i = 0; i < to_run; ++i) {
    Callback callback = std::move(ready_.front());
    ready_.pop_front();
    callback();
  }
  return to_run;
}

void Loop::run_forever() {
  // Like asyncio: stop() lets the current iteration finish; a stop() before run_forever()
  // makes it run exactly one iteration.
  do {
    run_once();
  } while (!stopping_);
  stopping_ = false;
}

}  // namespace lesson015::model
