// How it is built: the measuring side of `--bench` (024_file_io and 024_file_io_uring) and of
// the demo's "how long did the loop stall" lines. A learner can skip this file: a ticker that
// asks for a wake-up every millisecond and records how late each one comes, which is how long
// the loop was kept from running anything else. Header-only, so both programs compile it with
// their own Asio configuration.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "file_io_how_it_is_built.hpp"

namespace lesson024 {

struct LoopStalls {
  double longest_ms = 0;  // the longest time a 1 ms wake-up came late
  double p99_ms = 0;
  std::size_t ticks = 0;
};

/// Runs `work` (an awaitable: it starts only when awaited, after the ticker) while a ticker on
/// the same loop measures how late its 1 ms wake-ups come. Returns work's result and what the
/// ticker saw.
template <typename T>
asio::awaitable<std::pair<T, LoopStalls>> while_measuring_the_loop(asio::awaitable<T> work) {
  auto executor = co_await asio::this_coro::executor;
  struct Shared {
    bool stop = false;
    std::chrono::steady_clock::time_point due;  // when the pending wake-up should come
    std::vector<double> late_ms;
    void record(std::chrono::steady_clock::time_point now) {
      late_ms.push_back(std::chrono::duration<double, std::milli>(now - due).count());
    }
  };
  auto shared = std::make_shared<Shared>();
  auto timer = std::make_shared<asio::steady_timer>(executor);
  auto ticker = [](std::shared_ptr<Shared> s, std::shared_ptr<asio::steady_timer> t) -> asio::awaitable<void> {
    while (!s->stop) {
      t->expires_after(std::chrono::milliseconds(1));
      s->due = t->expiry();
      std::error_code ec;
      co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) s->record(std::chrono::steady_clock::now());
    }
  };
  asio::co_spawn(executor, ticker(shared, timer), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  struct StopTicker {  // on every way out, an exception included
    std::shared_ptr<Shared> s;
    std::shared_ptr<asio::steady_timer> t;
    ~StopTicker() {
      s->stop = true;
      t->cancel();
    }
  } stop_ticker{shared, timer};
  auto result = co_await std::move(work);
  // A wake-up that is overdue now counts too: after a blocking call it is the whole stall.
  const auto now = std::chrono::steady_clock::now();
  if (now > shared->due) shared->record(now);
  LoopStalls stalls;
  auto& late = shared->late_ms;
  stalls.ticks = late.size();
  if (!late.empty()) {
    std::sort(late.begin(), late.end());
    stalls.longest_ms = late.back();
    stalls.p99_ms = late[std::min(late.size() - 1, late.size() * 99 / 100)];
  }
  co_return std::make_pair(std::move(result), stalls);
}

/// The line bench/file_copy.sh reads: key=value pairs.
inline void print_bench_line(const std::string& backend, std::uint64_t bytes, double seconds,
                             const LoopStalls& stalls) {
  std::printf("backend=%s bytes=%llu seconds=%.4f mib_per_s=%.0f peak_rss_kib=%llu "
              "loop_longest_ms=%.2f loop_p99_ms=%.2f ticks=%zu\n",
              backend.c_str(), static_cast<unsigned long long>(bytes), seconds,
              seconds > 0 ? static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds : 0.0,
              static_cast<unsigned long long>(peak_rss_bytes() / 1024), stalls.longest_ms,
              stalls.p99_ms, stalls.ticks);
  std::fflush(stdout);
}

}  // namespace lesson024
