// How it is built: lesson 024's POSIX pieces (see file_io_how_it_is_built.hpp). Free of Asio:
// the io_uring program compiles this file too, with another Asio configuration.
#ifndef LESSON024_NO_POOL
#define LESSON024_NO_POOL
#endif
#include "file_io_how_it_is_built.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lesson024 {

FileError::FileError(int errno_value, const std::string& what_was_done, const std::string& path)
    : std::system_error(errno_value, std::generic_category(), what_was_done + " '" + path + "'") {}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Source::Source(std::string p) : path(std::move(p)) {
  fd = Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw FileError(errno, "cannot open", path);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw FileError(errno, "cannot stat", path);
  if (S_ISDIR(info.st_mode)) throw FileError(EISDIR, "cannot read", path);
  if (S_ISREG(info.st_mode)) size = static_cast<std::uint64_t>(info.st_size);
}

std::size_t Source::read(char* buffer, std::size_t capacity) {
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, capacity);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw FileError(errno, "error reading", path);
  }
}

PendingFile::PendingFile(std::string final_path) : final_(std::move(final_path)) {
  struct stat info {};
  if (::stat(final_.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    throw FileError(EISDIR, "cannot write", final_);
  if (::stat(final_.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    fd_ = Fd(::open(final_.c_str(), O_WRONLY | O_CLOEXEC));  // a device or a pipe: in place
    if (fd_.get() < 0) throw FileError(errno, "cannot open", final_);
    return;
  }
  const auto slash = final_.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : final_.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? final_ : final_.substr(slash + 1);
  temporary_ = (slash == std::string::npos ? "" : folder) + "." + name + ".partial-XXXXXX";
  fd_ = Fd(::mkostemp(temporary_.data(), O_CLOEXEC));
  if (fd_.get() < 0) {
    const int error = errno;
    temporary_.clear();
    throw FileError(error, "cannot create a file in", folder);
  }
  ::fchmod(fd_.get(), 0644);  // mkstemp makes it 0600; a copy is normally readable by others
}

PendingFile::PendingFile(PendingFile&& other) noexcept
    : final_(std::move(other.final_)), temporary_(std::move(other.temporary_)),
      fd_(std::move(other.fd_)), done_(std::exchange(other.done_, true)) {}

PendingFile::~PendingFile() {
  if (done_) return;
  fd_ = Fd();
  if (!temporary_.empty()) ::unlink(temporary_.c_str());  // nothing half-written stays
}

void PendingFile::write(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_.get(), data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileError(errno, "error writing", final_);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void PendingFile::commit() {
  // Fd's destructor would ignore close()'s error: close by hand and look at it.
  const int fd = fd_.release();
  if (fd >= 0 && ::close(fd) != 0) throw FileError(errno, "error writing", final_);
  if (!temporary_.empty() && ::rename(temporary_.c_str(), final_.c_str()) != 0)
    throw FileError(errno, "cannot rename the copy to", final_);
  done_ = true;
}

std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t size) {
  // The reflected polynomial 0xEDB88320, one table lookup per byte.
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i)
    crc = table[(crc ^ static_cast<unsigned char>(data[i])) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

}  // namespace lesson024
