// Lesson 020: the servers the lesson compares, each the baseline changed in one idea. The
// load generator and the table are in how_it_is_built.cpp.
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

// ---- 2-4, 6-11: io_context servers. ------------------------------------------------------
// `contexts` io_contexts (one acceptor each) run by `threads_each` threads each, created with
// the concurrency hint `hint` (step 10: ASIO_CONCURRENCY_HINT_UNSAFE).
class ContextServer : public EchoServer {
 public:
  ContextServer(unsigned contexts, unsigned threads_each, SessionConfig config,
                PerConnection where = PerConnection::same_executor,
                int hint = ASIO_CONCURRENCY_HINT_DEFAULT, unsigned short port = 0)
      : port_(port) {
    for (unsigned i = 0; i < contexts; ++i) {
      auto& context = *contexts_.emplace_back(std::make_unique<asio::io_context>(hint));
      auto acceptor = listen_on(context, port_, contexts > 1);
      port_ = acceptor.local_endpoint().port();  // the others bind the same port
      asio::co_spawn(asio::make_strand(context), accept_loop(std::move(acceptor), config, where),
                     [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
      // How to stop it. io_context::stop() from this thread would be a data race on an
      // io_context without locks (the UNSAFE hint), and so would post(). A byte on a pipe is
      // the kernel's business: the io_context sees it readable and stops itself, on its thread.
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
  const auto same = PerConnection::same_executor;
  const int locks = ASIO_CONCURRENCY_HINT_DEFAULT, no_locks = ASIO_CONCURRENCY_HINT_UNSAFE;
  auto one_thread = [&](SessionConfig config, int hint = ASIO_CONCURRENCY_HINT_DEFAULT) {
    return std::make_unique<ContextServer>(1, 1, config, same, hint, port);
  };
  auto on_cores = [&](unsigned contexts, unsigned threads_each, PerConnection where) {
    return std::make_unique<ContextServer>(contexts, threads_each, SessionConfig{}, where, locks,
                                           port);
  };
  switch (variant) {
    case Variant::threads: return start_thread_server(port);  // how_it_is_built.cpp
    case Variant::baseline: return one_thread(SessionConfig{});
    case Variant::reuseport: return on_cores(cores, 1, same);
    case Variant::strands: return on_cores(1, cores, PerConnection::strand_of_any);
    case Variant::small_strands: return on_cores(1, cores, PerConnection::strand_of_io_context);
    case Variant::split_nagle: return one_thread(SessionConfig{W::split_in_two, false});
    case Variant::split_nodelay: return one_thread(SessionConfig{W::split_in_two, true});
    case Variant::gathered: return one_thread(SessionConfig{W::gathered, false});
    case Variant::in_place: return one_thread(SessionConfig{W::in_place, true});
    case Variant::end_of_line: return one_thread(SessionConfig{W::copy_then_write, true, true});
    case Variant::every_line:
      return one_thread(SessionConfig{W::copy_then_write, true, false, true});
    // No locks in the scheduler and the reactor: see the top of tuning.hpp and ~ContextServer.
    case Variant::unsafe_hint: return one_thread(SessionConfig{}, no_locks);
    case Variant::tuned: return one_thread(SessionConfig{W::in_place, true, true, true}, no_locks);
  }
  throw std::invalid_argument("unknown variant");
}

}  // namespace lesson020
