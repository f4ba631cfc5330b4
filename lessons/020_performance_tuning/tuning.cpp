// Lesson 020: the servers it compares, each the baseline changed in one idea.
#include "tuning.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "echo_session.hpp"
#include "how_it_is_built.hpp"

namespace lesson020 {

using asio::ip::tcp;

tcp::acceptor listen_on(asio::io_context& context, unsigned short port, bool reuseport) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  tcp::acceptor acceptor(context, endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  if (reuseport) acceptor.set_option(reuse_port{});     // several listeners, one port:
  acceptor.bind(endpoint);                                // the kernel spreads connections
  acceptor.listen();
  return acceptor;
}

namespace {

// Rows 2-4 and 6-11: `contexts` io_contexts (one acceptor each) run by `threads_each` threads
// each, created with the concurrency hint `hint` (step 10: ASIO_CONCURRENCY_HINT_UNSAFE).
class ContextServer : public EchoServer {
 public:
  ContextServer(unsigned contexts, unsigned threads_each, SessionConfig config,
                unsigned short port, PerConnection where, int hint = ASIO_CONCURRENCY_HINT_DEFAULT)
      : port_(port) {
    for (unsigned i = 0; i < contexts; ++i) {
      auto& context = *contexts_.emplace_back(std::make_unique<asio::io_context>(hint));
      auto acceptor = listen_on(context, port_, contexts > 1);
      port_ = acceptor.local_endpoint().port();  // the others bind the same port
      asio::co_spawn(asio::make_strand(context), accept_loop(std::move(acceptor), config, where),
                     [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
      // How to stop it: stop() or post() from this thread would race with an io_context
      // without locks (UNSAFE hint). A byte on a pipe wakes it: it stops itself, on its thread.
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
      wake_.push_back(fds[1]);
      auto& reader = *readers_.emplace_back(
          std::make_unique<asio::posix::stream_descriptor>(context, fds[0]));
      reader.async_wait(asio::posix::stream_descriptor::wait_read,
                        [&context](std::error_code) { context.stop(); });
    }
    for (auto& context : contexts_)
      for (unsigned t = 0; t < threads_each; ++t)
        threads_.emplace_back([&context] { context->run(); });
  }
  ~ContextServer() override {
    for (int fd : wake_) {
      [[maybe_unused]] auto written = ::write(fd, "x", 1);
      ::close(fd);
    }
    for (auto& thread : threads_) thread.join();
  }
  unsigned short port() const override { return port_; }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> readers_;  // before contexts_
  std::vector<int> wake_;                                                 // go: the pipes
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
};

}  // namespace

std::unique_ptr<EchoServer> start_server(Variant variant, unsigned cores, unsigned short port) {
  using W = SessionConfig::Write;
  auto one_thread = [&](SessionConfig config, int hint = ASIO_CONCURRENCY_HINT_DEFAULT) {
    return std::make_unique<ContextServer>(1, 1, config, port, PerConnection::same_executor, hint);
  };
  auto on_cores = [&](unsigned contexts, unsigned threads_each, PerConnection where) {
    return std::make_unique<ContextServer>(contexts, threads_each, SessionConfig{}, port, where);
  };
  switch (variant) {
    case Variant::threads: return start_thread_server(port);  // how_it_is_built.cpp
    case Variant::baseline: return one_thread({});
    case Variant::reuseport: return on_cores(cores, 1, PerConnection::same_executor);
    case Variant::strands: return on_cores(1, cores, PerConnection::strand_of_any);
    case Variant::small_strands: return on_cores(1, cores, PerConnection::strand_of_io_context);
    case Variant::split_nagle: return one_thread({.write = W::split_in_two, .nodelay = false});
    case Variant::split_nodelay: return one_thread({.write = W::split_in_two});
    case Variant::gathered: return one_thread({.write = W::gathered, .nodelay = false});
    case Variant::in_place: return one_thread({.write = W::in_place});
    case Variant::end_of_line: return one_thread({.memchr_end_of_line = true});
    case Variant::every_line: return one_thread({.every_line_at_once = true});
    case Variant::unsafe_hint: return one_thread({}, ASIO_CONCURRENCY_HINT_UNSAFE);  // no locks
    case Variant::tuned:  // steps 7 + 8 + 9 + 10
      return one_thread({.write = W::in_place, .memchr_end_of_line = true,
                         .every_line_at_once = true}, ASIO_CONCURRENCY_HINT_UNSAFE);
  }
  throw std::invalid_argument("unknown variant");
}

}  // namespace lesson020
