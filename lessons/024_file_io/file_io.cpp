// Lesson 024: file I/O on a thread pool (see file_io.hpp).
#include "file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "compat.hpp"
#include "semaphore.hpp"  // lesson 009

namespace lesson024 {

asio::awaitable<Copied> copy_file(asio::thread_pool& pool, std::string from, std::string to,
                                  OnProgress on_progress, bool checksum) {
  // Opening touches the disk too (a path lookup, a directory entry): on the pool.
  auto open_both = [from, to] { return std::make_shared<std::pair<Source, PendingFile>>(from, to); };
  auto files = co_await on_pool(pool, open_both);
  auto& [source, destination] = *files;

  std::vector<char> buffer(chunk_size);  // the only buffer, whatever the file's size
  Copied copied;
  std::uint32_t crc = 0;
  for (;;) {
    // One trip to the pool per chunk: read it, write it, (sum it). The lambda captures locals
    // of this frame by reference: safe, because on_pool always finishes before we go on.
    auto one_chunk = [&]() -> std::size_t {
      const std::size_t n = source.read(buffer.data(), buffer.size());
      destination.write(buffer.data(), n);
      if (checksum) crc = crc32_update(crc, buffer.data(), n);
      return n;
    };
    // If this coroutine was cancelled while the last chunk was on the pool, this co_await
    // throws operation_aborted before starting another (Asio's throw_if_cancelled, on by
    // default): `files` is then destroyed and PendingFile removes the temporary.
    const std::size_t n = co_await on_pool(pool, one_chunk);
    if (n == 0) break;
    copied.bytes += n;
    if (on_progress) on_progress(Progress{copied.bytes, source.size});
  }
  auto commit = [&destination] { destination.commit(); return true; };  // close + rename
  co_await on_pool(pool, commit);
  if (checksum) copied.crc32 = crc;
  co_return copied;
}

asio::awaitable<std::uint32_t> crc32_of_file(asio::thread_pool& pool, std::string path) {
  auto open = [path] { return std::make_shared<Source>(path); };
  auto source = co_await on_pool(pool, open);
  std::vector<char> buffer(chunk_size);
  std::uint32_t crc = 0;
  for (;;) {
    auto one_chunk = [&]() -> std::size_t {
      const std::size_t n = source->read(buffer.data(), buffer.size());
      crc = crc32_update(crc, buffer.data(), n);
      return n;
    };
    if (co_await on_pool(pool, one_chunk) == 0) break;
  }
  co_return crc;
}

asio::awaitable<std::uint64_t> for_each_line(asio::thread_pool& pool, std::string path,
                                             std::function<void(std::string_view)> on_line,
                                             std::size_t max_line) {
  auto open = [path] { return std::make_shared<Source>(path); };
  auto source = co_await on_pool(pool, open);
  std::vector<char> buffer(chunk_size);
  std::string partial;  // the start of a line whose '\n' is in a later chunk
  std::uint64_t lines = 0;
  for (;;) {
    auto read_chunk = [&] { return source->read(buffer.data(), buffer.size()); };
    const std::size_t n = co_await on_pool(pool, read_chunk);
    if (n == 0) break;
    std::string_view rest(buffer.data(), n);
    // Splitting is cheap memchr work: done here, on the loop, where on_line must run anyway.
    for (auto end = rest.find('\n'); end != std::string_view::npos; end = rest.find('\n')) {
      if (partial.empty()) {
        on_line(rest.substr(0, end));
      } else {
        partial.append(rest.substr(0, end));
        on_line(partial);
        partial.clear();
      }
      ++lines;
      rest.remove_prefix(end + 1);
    }
    if (partial.size() + rest.size() > max_line) throw FileError(EFBIG, "a line is too long in", path);
    partial.append(rest);
  }
  if (!partial.empty()) {
    on_line(partial);
    ++lines;
  }
  co_return lines;
}

asio::awaitable<ManyFiles> crc32_of_files(asio::thread_pool& pool, std::vector<std::string> paths,
                                          int limit) {
  auto executor = co_await asio::this_coro::executor;
  lesson009::Semaphore semaphore(executor, limit);
  ManyFiles result;
  result.crc32s.resize(paths.size());
  int reading = 0;
  std::size_t left = paths.size();
  std::exception_ptr first_error;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());

  auto one = [&](std::size_t i) -> asio::awaitable<void> {
    auto permit = co_await semaphore.acquire();  // `async with sem:`, released at the end
    result.most_at_once = std::max(result.most_at_once, ++reading);
    try {
      result.crc32s[i] = co_await crc32_of_file(pool, paths[i]);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
    --reading;
  };
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto done = [&](std::exception_ptr) { if (--left == 0) all_done.cancel(); };
    asio::co_spawn(executor, one(i), done);
  }
  while (left > 0) co_await all_done.async_wait(compat::as_tuple(asio::use_awaitable));
  if (first_error) std::rethrow_exception(first_error);
  co_return result;
}

Copied copy_file_blocking(const std::string& from, const std::string& to) {
  Source source(from);
  PendingFile destination(to);
  std::vector<char> buffer(chunk_size);
  Copied copied;
  // Looks just like copy_file() without the co_await: that is the whole problem.
  while (const std::size_t n = source.read(buffer.data(), buffer.size())) {
    destination.write(buffer.data(), n);
    copied.bytes += n;
  }
  destination.commit();
  return copied;
}

}  // namespace lesson024
