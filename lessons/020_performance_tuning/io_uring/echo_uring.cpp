// Lesson 020, section 5: the baseline echo server compiled with Asio's io_uring backend.
// Built only when liburing is found (io_uring.cmake), with ASIO_HAS_IO_URING and
// ASIO_DISABLE_EPOLL: the same echo_session code, another event loop underneath.
// Prints "port N" (or "error: why") on stdout, then serves until SIGTERM or SIGINT.
#include <cstdio>
#include <exception>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "echo_session.hpp"

int main() {
  try {
    asio::io_context context;  // with these defines its reactor is io_uring, not epoll
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    asio::ip::tcp::acceptor acceptor(context, endpoint);
    std::printf("port %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);
    asio::signal_set signals(context, SIGTERM, SIGINT);
    signals.async_wait([&](std::error_code, int) { context.stop(); });
    asio::co_spawn(context, lesson020::accept_loop(std::move(acceptor), {},
                                                     lesson020::PerConnection::same_executor),
                   [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    context.run();
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
