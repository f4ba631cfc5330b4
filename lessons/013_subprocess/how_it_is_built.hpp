// How it is built: the pipe plumbing that lesson 013's communicate() and run() use: read a
// pipe to its end, feed a pipe and close it, and the log's formatting. You can skip it at
// this lesson (subprocess.cpp says what each helper does where it calls it). Included by
// subprocess.cpp only, so that all the lesson's coroutines compile in one translation unit;
// the POSIX side of Process (spawning, reaping, signals) is in how_it_is_built.cpp.
#pragma once

#include <string>
#include <system_error>
#include <vector>

#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "compat.hpp"
#include "subprocess.hpp"

namespace lesson013 {

// Reads a pipe until the child closes its end (EOF), then closes ours.
// By reference: the pipe belongs to the Process, which outlives every call (communicate()
// awaits this coroutine).
inline asio::awaitable<std::string> read_to_end(asio::readable_pipe& pipe) {
  std::string data;
  auto [error, size] = co_await asio::async_read(pipe, asio::dynamic_buffer(data),
                                                 compat::as_tuple(asio::use_awaitable));
  (void)size;
  if (error && error != asio::error::eof) throw std::system_error(error, "reading from child");
  pipe.close();
  co_return data;
}

// Writes `input` to the child's stdin and closes it, so the child sees EOF.
inline asio::awaitable<void> feed(asio::writable_pipe& pipe, std::string input) {
  if (!input.empty()) {
    auto [error, size] = co_await asio::async_write(pipe, asio::buffer(input),
                                                    compat::as_tuple(asio::use_awaitable));
    (void)size;
    // Like asyncio's communicate(): a child may exit without reading all its input; that
    // is not our error (EPIPE). Any other failure is.
    if (error && error != asio::error::broken_pipe)
      throw std::system_error(error, "writing to child");
  }
  pipe.close();
}

// argv as a shell would show it, for the log: sh -c 'sleep 0.1; exit 3'.
inline std::string command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\"'$;&|<>*?") == std::string::npos;
    const char* quote = arg.find('\'') == std::string::npos ? "'" : "\"";
    line += plain ? arg : quote + arg + quote;
  }
  return line;
}

// How a child ended, for the log: exit code 3, stderr "b: failing\n".
inline std::string summary(const Output& output) {
  std::string text = describe(output.returncode);
  if (!output.out.empty()) text += fmt::format(", stdout {:?}", output.out);
  if (!output.err.empty()) text += fmt::format(", stderr {:?}", output.err);
  return text;
}

}  // namespace lesson013
