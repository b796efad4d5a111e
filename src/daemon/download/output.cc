#include "daemon/download/output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/scoped_fd.h"

namespace feilong::daemon {

namespace {

// An errno from an operation on the caller's path: refusals are the
// caller's business (PermissionDenied), not an I/O failure of the daemon.
Status PathError(int err, const std::string& what) {
  if (err == EACCES || err == EPERM) {
    return Status::PermissionDenied(fmt::format("{}: {}", what, std::strerror(err)));
  }
  return Status::FromErrno(err, what);
}

// glibc's setgroups() changes every thread of the process; the system call
// itself changes only the calling thread, which is what is wanted here.
bool SetThreadGroups(const std::vector<gid_t>& groups) {
  return ::syscall(SYS_setgroups, groups.size(), groups.data()) == 0;
}

// The caller's file-system identity on this thread, the daemon's back when
// destroyed. Linux keeps fsuid, fsgid and supplementary groups per thread,
// and clears the file capabilities (CAP_DAC_OVERRIDE and friends) while the
// fsuid is not 0, so permission checks are the caller's.
class ScopedFsIdentity {
 public:
  static Result<std::unique_ptr<ScopedFsIdentity>> Take(const Caller& caller) {
    auto identity = std::unique_ptr<ScopedFsIdentity>(new ScopedFsIdentity());
    int count = ::getgroups(0, nullptr);
    if (count < 0) {
      return Status::FromErrno(errno, "getgroups");
    }
    identity->old_groups_.resize(static_cast<size_t>(count));
    if (::getgroups(count, identity->old_groups_.data()) < 0) {
      return Status::FromErrno(errno, "getgroups");
    }
    identity->old_uid_ = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
    identity->old_gid_ = static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)));
    const auto refused = [&caller] {
      return Status::PermissionDenied(fmt::format(
          "fld runs as uid {} and cannot act for uid {}: run fld as root, or flget as uid {}",
          ::geteuid(), caller.uid, ::geteuid()));
    };
    if (!SetThreadGroups(caller.groups)) {
      return refused();
    }
    identity->groups_set_ = true;
    ::setfsgid(caller.gid);
    ::setfsuid(caller.uid);
    // setfsuid and setfsgid report failure only by not changing anything.
    if (static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) != caller.uid ||
        static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) != caller.gid) {
      return refused();  // the destructor restores what did change
    }
    return identity;
  }

  ~ScopedFsIdentity() {
    ::setfsuid(old_uid_);
    ::setfsgid(old_gid_);
    const bool groups_back = !groups_set_ || SetThreadGroups(old_groups_);
    if (static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) != old_uid_ ||
        static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) != old_gid_ || !groups_back) {
      // This thread would go on with someone else's rights: never.
      spdlog::critical("cannot restore the daemon's file-system identity; aborting");
      std::abort();
    }
  }

  ScopedFsIdentity(const ScopedFsIdentity&) = delete;
  ScopedFsIdentity& operator=(const ScopedFsIdentity&) = delete;

 private:
  ScopedFsIdentity() = default;

  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
  std::vector<gid_t> old_groups_;
  bool groups_set_ = false;
};

bool IsDaemonItself(const Caller& caller) {
  return caller.uid == ::geteuid() && caller.gid == ::getegid();
}

Status CopyContent(int in, int out, const std::string& to) {
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
      return Status::FromErrno(errno, "copy to " + to);
    }
    if (n == 0) break;
  }
  if (!fallback) {
    return Status::Ok();
  }
  if (::lseek(in, 0, SEEK_SET) < 0 || ::lseek(out, 0, SEEK_SET) < 0 || ::ftruncate(out, 0) < 0) {
    return Status::FromErrno(errno, "copy to " + to);
  }
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read cached content");
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "write " + to);
      }
      done += w;
    }
  }
  return Status::Ok();
}

// The output's directory and file name, the directory opened (O_PATH) with
// the current file-system identity; a descriptor pins it, so a symlink
// swapped in later changes nothing.
struct OutputDir {
  ScopedFd dir;
  std::string name;
};

Result<OutputDir> OpenOutputDir(const std::string& output_path) {
  if (output_path.empty() || output_path.front() != '/') {
    return Status::InvalidArgument("output path must be absolute, got '" + output_path + "'");
  }
  const size_t slash = output_path.find_last_of('/');
  const std::string dir_path = slash == 0 ? std::string("/") : output_path.substr(0, slash);
  OutputDir out;
  out.name = output_path.substr(slash + 1);
  if (out.name.empty() || out.name == "." || out.name == "..") {
    return Status::InvalidArgument("output path " + output_path + " names no file");
  }
  out.dir = ScopedFd(::open(dir_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!out.dir.valid()) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return Status::InvalidArgument("output directory " + dir_path + " does not exist");
    }
    return PathError(err, "output directory " + dir_path);
  }
  struct stat st {};
  if (::fstatat(out.dir.get(), out.name.c_str(), &st, 0) == 0 && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("output path " + output_path + " is a directory");
  }
  return out;
}

Result<std::unique_ptr<ScopedFsIdentity>> ActAs(const std::optional<Caller>& caller) {
  if (caller.has_value() && !IsDaemonItself(*caller)) {
    return ScopedFsIdentity::Take(*caller);
  }
  return std::unique_ptr<ScopedFsIdentity>();
}

}  // namespace

Status CheckOutputPath(const std::string& output_path, const std::optional<Caller>& caller) {
  FL_ASSIGN_OR_RETURN(auto as_caller, ActAs(caller));
  FL_ASSIGN_OR_RETURN(OutputDir out, OpenOutputDir(output_path));
  // AT_EACCESS: checked with the file-system identity just taken.
  if (::faccessat(out.dir.get(), ".", W_OK | X_OK, AT_EACCESS) != 0) {
    return PathError(errno, "output directory of " + output_path);
  }
  return Status::Ok();
}

Status WriteOutput(const std::string& content_path, const std::string& output_path,
                   const std::optional<Caller>& caller) {
  // Protect the cached bytes behind a hard link from writes through it.
  ::chmod(content_path.c_str(), 0444);
  ScopedFd content(::open(content_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!content.valid()) {
    return Status::FromErrno(errno, "open cached content");
  }
  // From here every path is resolved with the caller's rights.
  FL_ASSIGN_OR_RETURN(auto as_caller, ActAs(caller));
  FL_ASSIGN_OR_RETURN(OutputDir out, OpenOutputDir(output_path));
  const int dir = out.dir.get();
  const std::string& name = out.name;

  std::random_device rd;
  const std::string temp = fmt::format("{}.fl-{:08x}", name, rd());
  bool linked = false;
  if (!as_caller) {
    linked = ::linkat(AT_FDCWD, content_path.c_str(), dir, temp.c_str(), 0) == 0;
    if (!linked && errno != EXDEV && errno != EPERM && errno != EMLINK) {
      return PathError(errno, "write output " + output_path);
    }
  }
  if (!linked) {
    ScopedFd file(
        ::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!file.valid()) {
      return PathError(errno, "create output " + output_path);
    }
    Status copied = CopyContent(content.get(), file.get(), output_path);
    if (copied.ok() && ::close(file.Release()) != 0) {
      copied = Status::FromErrno(errno, "close " + output_path);
    }
    if (!copied.ok()) {
      ::unlinkat(dir, temp.c_str(), 0);
      return copied;
    }
  }
  if (::renameat(dir, temp.c_str(), dir, name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir, temp.c_str(), 0);
    return PathError(err, "write output " + output_path);
  }
  return Status::Ok();
}

}  // namespace feilong::daemon
