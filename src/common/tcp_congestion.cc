#include "common/tcp_congestion.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/scoped_fd.h"

namespace feilong {

namespace {
// TCP_CA_NAME_MAX in the kernel, with the terminating NUL.
constexpr size_t kMaxName = 16;
constexpr std::string_view kWhereToLook =
    " (see /proc/sys/net/ipv4/tcp_available_congestion_control and "
    "tcp_allowed_congestion_control)";
}  // namespace

Status ValidateTcpCongestionName(std::string_view name) {
  bool ok = name.size() < kMaxName;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (!ok) {
    return Status::InvalidArgument("TCP congestion control '" + std::string(name.substr(0, 32)) +
                                   "': want at most 15 of a-z, 0-9, '_' and '-'");
  }
  return Status::Ok();
}

Status SetTcpCongestion(int fd, std::string_view name) {
  FL_RETURN_IF_ERROR(ValidateTcpCongestionName(name));
  if (name.empty()) {
    return Status::InvalidArgument("TCP congestion control: empty name");
  }
  if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name.data(),
                   static_cast<socklen_t>(name.size())) == 0) {
    return Status::Ok();
  }
  const int err = errno;
  const std::string what = "TCP congestion control '" + std::string(name) + "'";
  if (err == ENOENT) {
    return Status::NotFound(what + " is not available in this kernel" + std::string(kWhereToLook));
  }
  if (err == EPERM) {
    return Status::PermissionDenied(what + " is not allowed for this process" +
                                    std::string(kWhereToLook));
  }
  return Status::FromErrno(err, "set " + what);
}

Result<std::string> TcpCongestionOf(int fd) {
  char name[kMaxName] = {};
  socklen_t length = sizeof(name);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &length) != 0) {
    return Status::FromErrno(errno, "read TCP congestion control");
  }
  return std::string(name, ::strnlen(name, length));
}

Status ProbeTcpCongestion(std::string_view name) {
  ScopedFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) {
    return Status::FromErrno(errno, "socket for a TCP congestion control probe");
  }
  return SetTcpCongestion(probe.get(), name);
}

}  // namespace feilong
