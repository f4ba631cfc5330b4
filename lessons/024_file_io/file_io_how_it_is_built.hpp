// How it is built: the plain POSIX pieces under lesson 024 (a learner can skip this file).
// Opening with clear errors, the temporary-then-rename destination, blocking read/write loops
// that retry EINTR, a zlib-compatible CRC-32, and on_pool(): lesson 017's to_thread without
// the cancellation race (lesson 018 teaches async_initiate, lesson 005 cancellation).
// Everything except on_pool() is free of Asio, so the io_uring program (io_uring/) compiles
// the same .cpp with its own Asio configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace lesson024 {

/// Every failure of this lesson: errno plus what was being done to which file, e.g.
/// "cannot open 'a.txt' for reading: No such file or directory". code() is the errno.
class FileError : public std::system_error {
 public:
  FileError(int errno_value, const std::string& what_was_done, const std::string& path);
};

/// An open descriptor, closed when destroyed. Movable.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }  // the caller closes it now

 private:
  int fd_ = -1;
};

/// A source file opened for reading. Refuses a directory (EISDIR) at once, so the error names
/// the real problem instead of failing at the first read.
struct Source {
  explicit Source(std::string path);
  std::string path;
  Fd fd;
  std::uint64_t size = 0;  // 0 for a pipe or a device
  /// One blocking read() of up to `capacity` bytes (0 at the end); throws FileError.
  std::size_t read(char* buffer, std::size_t capacity);
};

/// The destination: a temporary file next to `final_path` (".<name>.partial-XXXXXX"), renamed
/// onto the final name by commit(); destroyed without commit() (an error, a cancellation), it
/// is closed and removed, so no half-written file ever carries the final name. A destination
/// that exists and is not a regular file (/dev/full, /dev/null, a pipe) is written in place,
/// as cp does: there is nothing to rename there.
class PendingFile {
 public:
  explicit PendingFile(std::string final_path);
  PendingFile(PendingFile&& other) noexcept;
  PendingFile& operator=(PendingFile&&) = delete;
  ~PendingFile();

  /// write() until all `size` bytes are written; throws FileError (ENOSPC: disk full).
  void write(const char* data, std::size_t size);
  /// close() (which can report a late write error), then rename() onto the final name.
  void commit();
  int fd() const { return fd_.get(); }
  const std::string& temporary_path() const { return temporary_; }  // "" when written in place

 private:
  std::string final_;
  std::string temporary_;
  Fd fd_;
  bool done_ = false;
};

/// CRC-32 as zlib.crc32() and binascii.crc32() compute it: crc = crc32_update(crc, data, n),
/// starting from 0.
std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t size);

/// The process's peak resident memory (VmHWM in /proc/self/status), in bytes.
std::uint64_t peak_rss_bytes();

}  // namespace lesson024

// on_pool() needs Asio; the io_uring program does not include it.
#ifndef LESSON024_NO_POOL
#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

namespace lesson024 {

/// Runs `work` (returning a value, not void) on a thread of `pool` and resumes the awaiting
/// coroutine on its own executor with the result, or rethrows what `work` threw: lesson 017's
/// to_thread. The difference: this operation ignores cancellation (it installs no cancellation
/// handler), so a cancellation of the awaiting coroutine never touches state on the pool's
/// thread (the race lesson 017 warns about). The blocking call finishes; the coroutine sees
/// the cancellation at its next co_await of an awaitable, between two chunks.
template <typename Work>
asio::awaitable<std::invoke_result_t<Work&>> on_pool(asio::thread_pool& pool, Work work) {
  using Result = std::invoke_result_t<Work&>;
  auto initiate = [&pool](auto handler, Work job) {
    // Tracked: the io_context keeps running while the pool works for it.
    auto home = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    auto on_thread = [job = std::move(job), handler = std::move(handler), home]() mutable {
      std::exception_ptr error;
      std::optional<Result> result;
      try {
        result.emplace(job());
      } catch (...) {
        error = std::current_exception();
      }
      auto back = [handler = std::move(handler), error, result = std::move(result)]() mutable {
        std::move(handler)(error, result ? std::move(*result) : Result{});
      };
      asio::post(home, std::move(back));
    };
    asio::post(pool, std::move(on_thread));
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(std::exception_ptr, Result)>(
      std::move(initiate), asio::use_awaitable, std::move(work));
}

}  // namespace lesson024
#endif
