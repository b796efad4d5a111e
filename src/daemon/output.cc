#include "daemon/output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <vector>

namespace feilong::daemon {

namespace {

Status CopyFile(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return Status::FromErrno(errno, "open " + from);
  }
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return Status::FromErrno(err, "create " + to);
  }
  Status status;
  bool fallback = false;
  while (true) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Not supported between these file systems: copy through a buffer.
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        fallback = true;
        break;
      }
      status = Status::FromErrno(errno, "copy to " + to);
      break;
    }
    if (n == 0) break;
  }
  if (fallback) {
    std::vector<char> buf(1 << 20);
    while (status.ok()) {
      ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        status = Status::FromErrno(errno, "read " + from);
        break;
      }
      if (n == 0) break;
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          status = Status::FromErrno(errno, "write " + to);
          break;
        }
        done += w;
      }
    }
  }
  ::close(in);
  if (::close(out) != 0 && status.ok()) {
    status = Status::FromErrno(errno, "close " + to);
  }
  return status;
}

}  // namespace

Status WriteOutput(const std::string& content_path, const std::string& output_path,
                   const std::optional<Sha256Digest>& digest) {
  if (output_path.empty() || output_path.front() != '/') {
    return Status::InvalidArgument("output path must be absolute, got '" + output_path + "'");
  }
  struct stat st {};
  if (::stat(output_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("output path " + output_path + " is a directory");
  }
  // Protect the cached bytes behind a hard link from writes through it.
  ::chmod(content_path.c_str(), 0444);

  std::random_device rd;
  std::string temp = fmt::format("{}.fl-{:08x}", output_path, rd());
  if (::link(content_path.c_str(), temp.c_str()) != 0) {
    int err = errno;
    if (err != EXDEV && err != EPERM && err != EMLINK) {
      return Status::FromErrno(err, "write output " + output_path);
    }
    FL_RETURN_IF_ERROR(CopyFile(content_path, temp));
  }
  if (::rename(temp.c_str(), output_path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return Status::FromErrno(err, "write output " + output_path);
  }
  if (digest.has_value()) {
    FL_ASSIGN_OR_RETURN(Sha256Digest actual, Sha256File(output_path));
    if (actual != *digest) {
      ::unlink(output_path.c_str());
      return Status::Corruption(fmt::format("content digest is {}, expected {}",
                                            Sha256String(actual), Sha256String(*digest)));
    }
  }
  return Status::Ok();
}

}  // namespace feilong::daemon
