#include "mirror/piece_stream.h"

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace feilong::mirror {

void ProgressWatch::Set(const BlobProgress& progress) {
  MutexLock lock(mutex_);
  progress_ = progress;
  if (wake_) {
    wake_();
  }
}

BlobProgress ProgressWatch::Get() const {
  MutexLock lock(mutex_);
  return progress_;
}

void ProgressWatch::OnChange(std::function<void()> wake) {
  MutexLock lock(mutex_);
  wake_ = std::move(wake);
}

bool PreadAll(int fd, char* out, size_t length, uint64_t offset) {
  while (length > 0) {
    ssize_t n = ::pread(fd, out, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    out += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace feilong::mirror
