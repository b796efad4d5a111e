#include "common/fd_io.h"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace feilong {

Status WriteFully(int fd, std::span<const uint8_t> bytes, std::string_view what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Status::FromErrno(n < 0 ? errno : EIO, "write " + std::string(what));
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status WriteFully(int fd, std::string_view bytes, std::string_view what) {
  return WriteFully(fd, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, what);
}

Status PreadFully(int fd, std::span<uint8_t> buffer, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n =
        ::pread(fd, buffer.data() + done, buffer.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return Status::FromErrno(errno, "read " + std::string(what));
    }
    if (n == 0) {
      return Status::Corruption(std::string(what) + " ends at " + std::to_string(offset + done) +
                                ", before " + std::to_string(offset + buffer.size()));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace feilong
