/* epoll_echo: the reference echo server of the benchmarks, written as plainly as C allows.
 *
 * One thread, one epoll instance, level-triggered, non-blocking sockets, TCP_NODELAY. It is
 * the "no framework at all" end of the comparison: what an echo costs when nothing but the
 * system calls (accept4, recv, send, epoll_wait) runs between two messages.
 *
 * usage: epoll_echo PORT [line|bytes]
 *   line  (default): bytes go back only up to the last '\n' received, as a read-until-newline
 *                    server (asyncio's readline(), Asio's async_read_until) sends them.
 *   bytes:           every byte received goes straight back.
 * Listens on 127.0.0.1 only. PORT 0 picks a free port. Prints "listening on 127.0.0.1:N" once
 * ready, then serves until killed (SIGTERM/SIGINT end it at once: there is nothing to flush).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { READ_SIZE = 64 * 1024, MAX_EVENTS = 256 };

/* One connection. `held` bytes wait in `buffer`: in line mode the tail after the last '\n'
 * (not echoed yet); otherwise the bytes the kernel did not take at once (`unsent`). */
struct conn {
  int fd;
  char *buffer;
  size_t held, capacity;
  size_t unsent; /* bytes at the front of buffer still to send; reading pauses meanwhile */
  int waiting_out; /* registered for EPOLLOUT instead of EPOLLIN */
};

static int line_mode = 1;
static int epoll_fd;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void close_conn(struct conn *c) {
  close(c->fd); /* closing also removes it from the epoll set */
  free(c->buffer);
  free(c);
}

/* Sends the first `c->unsent` bytes. Returns 0 when all went out, 1 when the kernel's buffer
 * is full (the rest waits for EPOLLOUT), -1 on an error. */
static int flush(struct conn *c) {
  size_t done = 0;
  while (done < c->unsent) {
    ssize_t n = send(c->fd, c->buffer + done, c->unsent - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return -1;
    done += (size_t)n;
  }
  memmove(c->buffer, c->buffer + done, c->held - done);
  c->held -= done;
  c->unsent -= done;
  int blocked = c->unsent > 0;
  if (blocked != c->waiting_out) { /* a system call only when the interest changes */
    struct epoll_event ev = {.events = blocked ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
    c->waiting_out = blocked;
  }
  return blocked;
}

/* Reads what is there and echoes what may be echoed. Returns -1 when the connection ends. */
static int on_readable(struct conn *c) {
  if (c->capacity - c->held < READ_SIZE) {
    size_t wanted = c->held + READ_SIZE;
    char *bigger = realloc(c->buffer, wanted);
    if (!bigger) return -1;
    c->buffer = bigger;
    c->capacity = wanted;
  }
  ssize_t n = recv(c->fd, c->buffer + c->held, READ_SIZE, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n <= 0) return -1; /* 0: the client closed */
  size_t before = c->held;
  c->held += (size_t)n;
  if (line_mode) {
    /* Echo up to the last '\n' in the new bytes; the rest waits for its end of line. */
    char *end = memrchr(c->buffer + before, '\n', (size_t)n);
    if (!end) return 0;
    c->unsent = (size_t)(end - c->buffer) + 1;
  } else {
    c->unsent = c->held;
  }
  return flush(c) < 0 ? -1 : 0;
}

static void on_accept(int listener) {
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN: no more waiting; anything else: try again next time */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) close_conn(c);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "line") != 0 &&
                               strcmp(argv[2], "bytes") != 0)) {
    fprintf(stderr, "usage: epoll_echo PORT [line|bytes]\n");
    return 2;
  }
  line_mode = argc == 2 || strcmp(argv[2], "line") == 0;
  signal(SIGPIPE, SIG_IGN);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
  if (listen(listener, SOMAXCONN) != 0) die("listen");
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr *)&address, &length);

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the listener */
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &ev) != 0) die("epoll_ctl");
  printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      struct conn *c = events[i].data.ptr;
      if (!c) {
        on_accept(listener);
        continue;
      }
      int result;
      if (events[i].events & EPOLLOUT)
        result = flush(c) < 0 ? -1 : 0;
      else if (events[i].events & (EPOLLERR | EPOLLHUP) && !(events[i].events & EPOLLIN))
        result = -1;
      else
        result = on_readable(c);
      if (result < 0) close_conn(c);
    }
  }
}
