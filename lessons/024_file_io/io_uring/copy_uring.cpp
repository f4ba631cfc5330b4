// Lesson 024, the io_uring backend: the same copy as copy_file() in file_io.cpp, with no thread
// pool. asio::stream_file hands each read and write to the kernel through io_uring and
// completes it like a socket operation, so the loop's own thread never blocks and nothing
// runs on another thread. It exists only when Asio is compiled with ASIO_HAS_IO_URING (and
// linked with liburing), which changes Asio for the whole program: hence a program of its own,
// 024_file_io_uring (io_uring.cmake builds it when liburing-dev is installed).
//   024_file_io_uring FROM TO                   copy, print the byte count and the CRC-32
//   024_file_io_uring --bench FROM TO           one measured copy (bench/file_copy.sh)
//   024_file_io_uring --cancel-after N FROM TO  cancel the copy after N chunks (the tests)
// SIGINT or SIGTERM cancels a copy too. Exit status: 0 copied, 1 error, 3 cancelled.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/stream_file.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "compat.hpp"
#include "file_io_bench.hpp"  // while_measuring_the_loop, print_bench_line (how it is built)
#include "file_io_how_it_is_built.hpp"  // Source, PendingFile, FileError, crc32_update

namespace lesson024 {

constexpr std::size_t chunk_size = 1024 * 1024;  // as in file_io.hpp

struct Copied {
  std::uint64_t bytes = 0;
  std::uint32_t crc32 = 0;
};

// An error code from a file operation as the FileError the thread-pool version throws; a
// cancellation stays operation_aborted.
void check(const std::error_code& error, const char* what_was_done, const std::string& path) {
  if (error == asio::error::operation_aborted) throw std::system_error(error);
  if (error) throw FileError(error.value(), what_was_done, path);
}

asio::awaitable<Copied> copy_with_io_uring(std::string from, std::string to, bool checksum,
                                           std::function<void(std::uint64_t)> on_chunk) {
  auto executor = co_await asio::this_coro::executor;
  // Opening is a plain open() (asio::stream_file's own constructor does the same): quick, and
  // it gives the same error messages and the same temporary-then-rename as file_io.cpp.
  Source source(from);
  PendingFile destination(to);
  asio::stream_file in(executor, source.fd.release());
  asio::stream_file out(executor, ::dup(destination.fd()));

  std::vector<char> buffer(chunk_size);  // bounded memory, as on the pool
  Copied copied;
  for (;;) {
    auto [read_error, n] = co_await in.async_read_some(asio::buffer(buffer),
                                                       compat::as_tuple(asio::use_awaitable));
    if (read_error == asio::error::eof) break;
    check(read_error, "error reading", from);
    auto chunk = asio::buffer(buffer.data(), n);
    auto [write_error, written] =
        co_await asio::async_write(out, chunk, compat::as_tuple(asio::use_awaitable));
    check(write_error, "error writing", to);
    if (checksum) copied.crc32 = crc32_update(copied.crc32, buffer.data(), written);
    copied.bytes += written;
    if (on_chunk) on_chunk(copied.bytes);
  }
  out.close();
  destination.commit();  // close + rename; an exception above removed the temporary instead
  co_return copied;
}

}  // namespace lesson024

using namespace lesson024;

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const bool bench = args.size() == 3 && args[0] == "--bench";
  const bool cancel = args.size() == 4 && args[0] == "--cancel-after";
  if (!(args.size() == 2 && args[0][0] != '-') && !bench && !cancel) {
    std::printf("usage: 024_file_io_uring FROM TO | --bench FROM TO | --cancel-after N FROM TO\n");
    return args.size() == 1 && args[0] == "--help" ? 0 : 2;
  }
  const std::string from = args[args.size() - 2], to = args[args.size() - 1];
  const std::uint64_t cancel_at = cancel ? std::stoull(args[1]) * chunk_size : 0;
  asio::io_context context;
  asio::cancellation_signal stop;
  asio::signal_set signals(context, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code error, int) {
    if (!error) stop.emit(asio::cancellation_type::terminal);
  });
  auto on_chunk = [&](std::uint64_t done) {
    if (cancel_at != 0 && done == cancel_at) stop.emit(asio::cancellation_type::terminal);
  };
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  auto finished = [&](std::exception_ptr error, std::pair<Copied, LoopStalls> result) {
    signals.cancel();
    try {
      if (error) std::rethrow_exception(error);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (bench)
        print_bench_line("io_uring", result.first.bytes, seconds, result.second);
      else
        std::printf("copied %llu bytes, crc32 %08x\n",
                    static_cast<unsigned long long>(result.first.bytes), result.first.crc32);
    } catch (const std::system_error& e) {
      const bool cancelled = e.code() == asio::error::operation_aborted;
      std::fprintf(stderr, "024_file_io_uring: %s\n",
                   cancelled ? ("cancelled: nothing written to '" + to + "'").c_str() : e.what());
      status = cancelled ? 3 : 1;
    }
  };
  auto copy = while_measuring_the_loop(copy_with_io_uring(from, to, !bench, on_chunk));
  asio::co_spawn(context, std::move(copy), asio::bind_cancellation_slot(stop.slot(), finished));
  context.run();
  return status;
}
