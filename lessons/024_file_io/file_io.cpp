// Lesson 024: file I/O on a thread pool (see file_io.hpp).
#include "file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <variant>
#include <memory>

#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "gather.hpp"     // lesson 003
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

namespace {

// One file of crc32_of_files(): waits for a permit (`async with sem:`), released on return.
asio::awaitable<std::uint32_t> crc32_with_permit(asio::thread_pool& pool, std::string path,
                                                 lesson009::Semaphore* semaphore,
                                                 int* reading, int* most_at_once) {
  auto permit = co_await semaphore->acquire();
  *most_at_once = std::max(*most_at_once, ++*reading);
  struct Leave {  // --reading on every exit, an exception or a cancellation too
    int* reading;
    ~Leave() { --*reading; }
  } leave{reading};
  co_return co_await crc32_of_file(pool, std::move(path));
}

}  // namespace

asio::awaitable<ManyFiles> crc32_of_files(asio::thread_pool& pool, std::vector<std::string> paths,
                                          int limit) {
  lesson009::Semaphore semaphore(co_await asio::this_coro::executor, limit);
  int reading = 0;
  ManyFiles result;
  std::vector<asio::awaitable<std::uint32_t>> reads;
  for (auto& path : paths) {
    reads.push_back(crc32_with_permit(pool, path, &semaphore, &reading, &result.most_at_once));
  }
  // Lesson 003's gather_outcomes (asyncio.gather(..., return_exceptions=True)): a failed file
  // does not stop the others; each outcome is a value or an exception. Cancelling this
  // coroutine cancels every read and waits for them, so none outlives `semaphore`.
  auto outcomes = co_await lesson003::gather_outcomes(std::move(reads));
  for (auto& outcome : outcomes) {
    if (auto* error = std::get_if<std::exception_ptr>(&outcome)) std::rethrow_exception(*error);
    result.crc32s.push_back(std::get<std::uint32_t>(outcome));
  }
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
