// Lesson 024, the io_uring backend: the same copy as copy_file() in file_io.cpp, with no thread
// pool. asio::random_access_file hands each read and write to the kernel through io_uring
// and completes it like a socket operation, so the loop's own thread never blocks and no
// thread of ours runs the copy. It exists only when Asio is compiled with ASIO_HAS_IO_URING (and
// linked with liburing), which changes Asio for the whole program: hence a program of its own,
// 024_file_io_uring (io_uring.cmake builds it when liburing-dev is installed).
//   024_file_io_uring FROM TO                   copy, print the byte count and the CRC-32
//   024_file_io_uring --bench FROM TO           one measured copy (bench/file_copy.sh)
//   024_file_io_uring --cancel-after N FROM TO  cancel the copy after N chunks (the tests)
// SIGINT or SIGTERM cancels a copy too. Exit status: 0 copied, 1 error, 3 cancelled.
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer_registration.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/random_access_file.hpp>
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

// One read at `offset` into `buffer`: the byte count, 0 at the end of the file.
asio::awaitable<std::size_t> read_at(asio::random_access_file& file, std::uint64_t offset,
                                     asio::mutable_registered_buffer buffer, std::string path) {
  auto [error, n] = co_await file.async_read_some_at(offset, buffer,
                                                     compat::as_tuple(asio::use_awaitable));
  if (error == asio::error::eof) co_return 0;
  check(error, "error reading", path);
  co_return n;
}

// All of `buffer` written at `offset` (a write may take only part of it).
asio::awaitable<void> write_at(asio::random_access_file& file, std::uint64_t offset,
                               asio::mutable_registered_buffer buffer, std::string path) {
  while (buffer.size() > 0) {
    auto [error, n] = co_await file.async_write_some_at(offset, buffer,
                                                        compat::as_tuple(asio::use_awaitable));
    check(error, "error writing", path);
    buffer += n;
    offset += n;
  }
}

asio::awaitable<Copied> copy_with_io_uring(std::string from, std::string to, bool checksum,
                                           std::function<void(std::uint64_t)> on_chunk) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  // Opening is a plain open() (asio::stream_file's own constructor does the same): quick, and
  // it gives the same error messages and the same temporary-then-rename as file_io.cpp.
  Source source(from);
  PendingFile destination(to);
  asio::random_access_file in(executor, source.fd.release());
  asio::random_access_file out(executor, ::dup(destination.fd()));

  // Two chunks, bounded memory as on the pool: while one is written, the next is read into the
  // other. Both are *registered* with the ring (pinned once, read_fixed/write_fixed): a write
  // to a file runs on a kernel worker thread, and copying from a plain user buffer there cost
  // most of the copy's time (docs/performance.md). random_access_file, not stream_file: Asio
  // 1.22's stream_file reads a registered buffer at offset 0 every time.
  std::vector<char> memory(2 * chunk_size);
  std::array<asio::mutable_buffer, 2> halves{asio::buffer(memory.data(), chunk_size),
                                             asio::buffer(memory.data() + chunk_size, chunk_size)};
  auto registration = asio::register_buffers(executor, halves);
  Copied copied;
  int current = 0;
  std::size_t n = co_await read_at(in, 0, registration[current], from);
  while (n > 0) {
    auto writing = write_at(out, copied.bytes, asio::buffer(registration[current], n), to);
    auto reading = read_at(in, copied.bytes + n, registration[1 - current], from);
    // Both at once; a write error (ENOSPC) is the left side's, and `&&` keeps the left's.
    const std::size_t next = co_await (std::move(writing) && std::move(reading));
    if (checksum) copied.crc32 = crc32_update(copied.crc32, memory.data() + current * chunk_size, n);
    copied.bytes += n;
    if (on_chunk) on_chunk(copied.bytes);
    current = 1 - current;
    n = next;
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
