// How it is built: the pretend legacy library and the wait_in_style() harness (see
// how_it_is_built.hpp). You can skip this file at this lesson.
#include "how_it_is_built.hpp"

#include <cerrno>
#include <map>

#include "run.hpp"

namespace lesson016 {

LegacyDirectory::LegacyDirectory(std::chrono::milliseconds latency)
    : latency_(latency), worker_([this] { work(); }) {}

LegacyDirectory::~LegacyDirectory() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void LegacyDirectory::lookup(std::string name, Callback callback) {
  {
    std::lock_guard lock(mutex_);
    jobs_.emplace_back(std::move(name), std::move(callback));
  }
  wake_.notify_one();
}

void LegacyDirectory::work() {
  static const std::map<std::string, int> numbers{{"answer", 42}, {"port", 8080}};
  for (;;) {
    std::pair<std::string, Callback> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing, and nothing left to answer
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    std::this_thread::sleep_for(latency_);  // the slow backend
    auto found = numbers.find(job.first);
    // The callback runs here, on the library's thread, with no lock held.
    if (found == numbers.end())
      job.second(ENOENT, 0);
    else
      job.second(0, found->second);
  }
}

const char* name(Style style) {
  switch (style) {
    case Style::callback: return "callback";
    case Style::use_future: return "future";
    case Style::use_awaitable: return "awaitable";
    case Style::deferred: return "deferred";
    case Style::as_tuple: return "as_tuple";
    case Style::redirect_error: return "redirect";
    case Style::promise: return "promise";
  }
  return "?";
}

WaitReport wait_in_style(Style style, milliseconds delay,
                         std::optional<milliseconds> cancel_after) {
  asio::io_context io;
  auto timer = std::make_shared<asio::steady_timer>(io, delay);
  asio::steady_timer canceller(io);
  if (cancel_after) {
    canceller.expires_after(*cancel_after);
    canceller.async_wait([timer](std::error_code error) {
      if (!error) timer->cancel();  // the pending wait completes with operation_aborted
    });
  }

  switch (style) {
    case Style::callback: return with_callback(io, timer);
    case Style::use_future: return with_use_future(io, timer);
    default: break;
  }
  asio::awaitable<WaitReport> coroutine = [&] {
    switch (style) {
      case Style::use_awaitable: return with_use_awaitable(timer);
      case Style::deferred: return with_deferred(timer);
      case Style::as_tuple: return with_as_tuple(timer);
      case Style::redirect_error: return with_redirect_error(timer);
      default: return with_promise(timer);
    }
  }();
  // tut::run() spelled out, because the canceller must share this io_context.
  tut::Completion<WaitReport> result;
  tut::spawn_into(io, std::move(coroutine), result);
  io.run();
  return result.take();
}

}  // namespace lesson016
