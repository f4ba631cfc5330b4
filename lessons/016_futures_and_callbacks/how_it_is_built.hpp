// How it is built: lesson 016's scaffolding. You can skip this file at this lesson: it holds
// the pretend legacy library that legacy.hpp's async_lookup() wraps (LegacyDirectory: a thread,
// a job queue and a std::function callback, plain C++ with no Asio), and the declarations of
// futures.cpp's seven with_* functions for the harness behind wait_in_style() (a fresh
// io_context, a second timer that cancels the first, a switch that picks the style), which is
// in how_it_is_built.cpp. Lesson 018 teaches writing asynchronous operations in full.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "futures.hpp"

namespace lesson016 {

/// The pretend legacy library: a directory of names and numbers, answering on a worker thread.
class LegacyDirectory {
 public:
  /// errno-style: 0 on success, ENOENT for an unknown name.
  using Callback = std::function<void(int error, int value)>;

  /// Each lookup takes `latency` (it sleeps on the worker thread: the "slow backend").
  explicit LegacyDirectory(std::chrono::milliseconds latency);
  /// Answers the lookups already queued, then joins the worker thread.
  ~LegacyDirectory();
  LegacyDirectory(const LegacyDirectory&) = delete;
  LegacyDirectory& operator=(const LegacyDirectory&) = delete;

  /// Queues a lookup; later, on the worker thread, calls callback(0, number) for a known
  /// name ("answer" is 42, "port" is 8080) or callback(ENOENT, 0) for an unknown one.
  void lookup(std::string name, Callback callback);

 private:
  void work();

  std::chrono::milliseconds latency_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, Callback>> jobs_;
  bool closing_ = false;
  std::thread worker_;  // last: it starts after everything it uses is constructed
};

// futures.cpp's seven ways to receive one timer wait (the timer is shared: coroutine
// parameters by value, never by reference, lesson 019).
using Timer = std::shared_ptr<asio::steady_timer>;
WaitReport with_callback(asio::io_context& io, Timer timer);
WaitReport with_use_future(asio::io_context& io, Timer timer);
asio::awaitable<WaitReport> with_use_awaitable(Timer timer);
asio::awaitable<WaitReport> with_deferred(Timer timer);
asio::awaitable<WaitReport> with_as_tuple(Timer timer);
asio::awaitable<WaitReport> with_redirect_error(Timer timer);
asio::awaitable<WaitReport> with_promise(Timer timer);

}  // namespace lesson016
