// How it is built: the lesson program's command-line modes, which a learner can skip at this
// lesson: `--serve` (an EchoServer until Ctrl-C, its log written by a thread of its own) and
// `--connect` (an interactive client: stdin to the server, its replies to stdout). They use
// only what streams.hpp teaches; what they add is plumbing: argument parsing, signals,
// SIGPIPE, and a stdin read without changing the terminal's flags.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

namespace lesson012 {

/// The `--connect` mode: what is read from `input_fd` (stdin) goes to the server as it comes
/// (no line length limit), and every line the server sends is passed to `print`. At end of
/// input it half-closes and ends when the server has closed too. Returns 0; or 1, with the
/// reason on stderr, if the connection failed, was lost, or was closed by the server before
/// the end of input. `input_fd` is left as it was (blocking, if it was).
asio::awaitable<int> interactive_client(std::string host, std::string port, int input_fd,
                                        std::function<void(std::string_view)> print);

/// `012_streams --help`: prints the usage (stdout for status 0, else stderr), returns status.
int usage(int status);
/// `012_streams --serve [flags]` (the flags after --serve): returns the exit status.
int serve_main(std::vector<std::string_view> args);
/// `012_streams --connect HOST PORT`: returns the exit status.
int connect_main(std::string host, std::string port);

}  // namespace lesson012
