// Lesson 024: file I/O without stalling the loop, aiofiles and asyncio.to_thread for files.
//
//   Python (aiofiles, asyncio)                      C++ (this header)
//   async with aiofiles.open(p, 'rb') as f:         co_await copy_file(pool, from, to)
//       while chunk := await f.read(1 << 20): ...     (one 1 MiB chunk per pool trip)
//   await asyncio.to_thread(f.read, n)              co_await on_pool(pool, [&] { ... })
//   async for line in f: ...                        co_await for_each_line(pool, path, on_line)
//   zlib.crc32(chunk, crc) while streaming          copy_file(..., checksum = true)
//   sem = Semaphore(4); gather(*(one(p) ...))       co_await crc32_of_files(pool, paths, 4)
//   open(p).read() inside async def (the mistake)   copy_file_blocking(from, to)
//
// Why a thread pool at all: epoll (and select, poll) reports a regular file as always ready,
// because the kernel has no "would block" for it: read() waits for the disk, or copies from
// the page cache, but never returns EAGAIN. O_NONBLOCK is ignored on regular files. So an event
// loop cannot wait for a file the way it waits for a socket. Two ways out:
//   1. a thread pool does the blocking read()/write() (aiofiles, asyncio.to_thread, and the
//      functions below): portable, always available;
//   2. io_uring hands the whole read to the kernel and completes it like a socket operation:
//      asio::stream_file / asio::random_access_file, compiled only with ASIO_HAS_IO_URING
//      (and liburing). io_uring/copy_uring.cpp is this lesson's copy written that way, a
//      program of its own (024_file_io_uring) because that define changes Asio for the whole
//      program. Python's asyncio has no io_uring file support.
//
// Rules, each pinned by a test:
// - Memory is bounded: one chunk_size buffer per copy, whatever the file size.
// - The destination is written to a temporary file next to it and renamed onto its name only
//   when everything was written: an error or a cancellation mid-copy leaves no file under the
//   final name, and removes the temporary (file_io_how_it_is_built.hpp: PendingFile).
// - Errors are FileError (a std::system_error): "cannot open 'x': No such file or directory",
//   "cannot read 'd': Is a directory", "error writing '/dev/full': No space left on device".
// - A cancellation (a timeout, `||`, a task group) takes effect between two chunks: the chunk
//   in flight on the pool finishes first, since a blocking read() cannot be interrupted (in
//   Python, to_thread's thread keeps running too).
// Where C++ differs from aiofiles:
// - aiofiles sends every call (each read, each write, each readline) to the default executor.
//   Here one pool trip reads AND writes a chunk: half the thread hops for the same work.
// - The pool is passed in explicitly (asyncio has a default executor per loop).
// - Lesson 017's to_thread is not reused: cancelling while it waits races with the pool thread
//   (017's header says why). on_pool() ignores cancellation; the loop checks between chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include "file_io_how_it_is_built.hpp"  // FileError, Source, PendingFile, on_pool, crc32_update

namespace lesson024 {

/// The size of one read: big enough that a pool trip per chunk costs little, small enough that
/// memory stays bounded. Each trip wakes a pool thread and then the loop; with 256 KiB chunks
/// those trips held the copy to 0.75x cp's speed, with 1 MiB to 0.88x (docs/performance.md).
/// (aiofiles has no default; shutil.copyfileobj uses 64 KiB, cp 128 KiB.)
inline constexpr std::size_t chunk_size = 1024 * 1024;

/// How far a copy is: called on the loop's thread after every chunk.
struct Progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // the source's size (0 for a device or a pipe)
};
using OnProgress = std::function<void(const Progress&)>;

struct Copied {
  std::uint64_t bytes = 0;
  std::optional<std::uint32_t> crc32;  // with checksum = true: zlib.crc32 of what was copied
};

/// Copies `from` to `to` in chunk_size chunks, each read and written on a thread of `pool`.
/// The loop stays free. Throws FileError; on any exit but success, `to` is untouched (a
/// failed copy never replaces an existing file) and the temporary is gone.
asio::awaitable<Copied> copy_file(asio::thread_pool& pool, std::string from, std::string to,
                                  OnProgress on_progress = {}, bool checksum = false);

/// CRC-32 of a file, streamed: chunks read on the pool, summed on the pool.
asio::awaitable<std::uint32_t> crc32_of_file(asio::thread_pool& pool, std::string path);

/// `async for line in f`: calls on_line (on the loop's thread) for every line, without its
/// '\n'; a last line without '\n' counts too. Returns the number of lines. Memory: one chunk
/// plus the longest line; a line longer than `max_line` throws FileError(EFBIG), like
/// asyncio's StreamReader limit (a file with no '\n' at all must not fill the memory).
asio::awaitable<std::uint64_t> for_each_line(asio::thread_pool& pool, std::string path,
                                             std::function<void(std::string_view)> on_line,
                                             std::size_t max_line = 1 << 20);

/// What crc32_of_files() computed: one CRC per path, in order, and the most files that were
/// being read at the same moment (never more than the limit).
struct ManyFiles {
  std::vector<std::uint32_t> crc32s;
  int most_at_once = 0;
};

/// Reads many files concurrently, at most `limit` at a time (lesson 009's Semaphore), each
/// streamed in chunks, under lesson 003's gather_outcomes. If some fail, the others still
/// finish, then the first error (in the order of `paths`) is thrown. Cancelling it cancels
/// every read and returns only when none is running.
asio::awaitable<ManyFiles> crc32_of_files(asio::thread_pool& pool, std::vector<std::string> paths,
                                          int limit);

/// The mistake, for contrast: the same copy with blocking read()/write() called straight from
/// a coroutine. Correct bytes, but the loop's thread is stuck until the whole file is copied:
/// every timer, socket and task on the loop waits (main.cpp measures how long).
Copied copy_file_blocking(const std::string& from, const std::string& to);

}  // namespace lesson024
