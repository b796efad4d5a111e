#include "daemon/local_socket.h"

#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace feilong::daemon {

namespace {

constexpr std::string_view kFdPeerPrefix = "fd:";

// The caller of an accepted connection, as the kernel recorded it at
// connect(2). Supplementary groups come from SO_PEERGROUPS (Linux 4.13).
Result<Caller> PeerCaller(int fd) {
  struct ucred cred {};
  socklen_t length = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    return Status::FromErrno(errno, "SO_PEERCRED");
  }
  Caller caller;
  caller.uid = cred.uid;
  caller.gid = cred.gid;
  caller.pid = cred.pid;
  std::vector<gid_t> groups(64);
  while (true) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE || bytes <= groups.size() * sizeof(gid_t)) {
      return Status::FromErrno(errno, "SO_PEERGROUPS");
    }
    groups.resize(bytes / sizeof(gid_t));
  }
  caller.groups = std::move(groups);
  return caller;
}

}  // namespace

namespace {

ino_t InodeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

}  // namespace

void CallerRegistry::Record(int fd, Caller caller) {
  ino_t inode = InodeOf(fd);
  std::lock_guard lock(mutex_);
  callers_[fd] = Entry{std::move(caller), inode};
}

Result<Caller> CallerRegistry::CallerOf(std::string_view peer) const {
  if (peer.substr(0, kFdPeerPrefix.size()) != kFdPeerPrefix) {
    return Status::NotFound("call from " + std::string(peer) + " did not come through the socket");
  }
  std::string_view digits = peer.substr(kFdPeerPrefix.size());
  int fd = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return Status::NotFound("unknown local peer " + std::string(peer));
  }
  // The descriptor must still be the connection recorded (gRPC keeps it
  // open while a call on it runs; a number reused since is another socket).
  ino_t inode = InodeOf(fd);
  std::lock_guard lock(mutex_);
  auto it = callers_.find(fd);
  if (it == callers_.end() || inode == 0 || it->second.inode != inode) {
    return Status::NotFound("unknown local peer " + std::string(peer));
  }
  return it->second.caller;
}

Result<std::unique_ptr<LocalSocket>> LocalSocket::Start(const LocalSocketOptions& options,
                                                        grpc::Server& server,
                                                        CallerRegistry& callers) {
  auto socket = std::unique_ptr<LocalSocket>(new LocalSocket(options, server, callers));
  struct sockaddr_un address {};
  address.sun_family = AF_UNIX;
  if (options.path.empty() || options.path.size() >= sizeof(address.sun_path)) {
    return Status::InvalidArgument("socket path '" + options.path + "' is empty or longer than " +
                                   std::to_string(sizeof(address.sun_path) - 1) + " bytes");
  }
  std::memcpy(address.sun_path, options.path.data(), options.path.size());
  socket->listener_ = ScopedFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket->listener_.valid()) {
    return Status::FromErrno(errno, "socket");
  }
  ::unlink(options.path.c_str());
  // Nobody can connect before listen(2), so mode and group are right
  // before the first caller arrives.
  if (::bind(socket->listener_.get(), reinterpret_cast<const sockaddr*>(&address),
             sizeof(address)) != 0) {
    return Status::IOError("cannot listen on unix socket " + options.path + ": " +
                           std::strerror(errno));
  }
  if (options.group.has_value() &&
      ::chown(options.path.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
    int err = errno;
    ::unlink(options.path.c_str());
    return Status::PermissionDenied("cannot give socket " + options.path + " to group " +
                                    std::to_string(*options.group) + ": " + std::strerror(err));
  }
  if (::chmod(options.path.c_str(), options.mode) != 0 ||
      ::listen(socket->listener_.get(), 128) != 0) {
    int err = errno;
    ::unlink(options.path.c_str());
    return Status::FromErrno(err, "unix socket " + options.path);
  }
  socket->wake_ = ScopedFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!socket->wake_.valid()) {
    int err = errno;
    ::unlink(options.path.c_str());
    return Status::FromErrno(err, "eventfd");
  }
  LocalSocket* self = socket.get();
  socket->thread_ = std::jthread([self](std::stop_token stop) { self->AcceptLoop(stop); });
  return socket;
}

LocalSocket::~LocalSocket() { Stop(); }

void LocalSocket::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      return;
    }
    stopped_ = true;
  }
  if (thread_.joinable()) {
    thread_.request_stop();
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
    thread_.join();
  }
  if (listener_.valid()) {
    ::unlink(options_.path.c_str());
    listener_.Reset(-1);
  }
}

uint64_t LocalSocket::accepted() const { return accepted_.load(); }

void LocalSocket::AcceptLoop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    struct pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int ready = ::poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("local_socket_poll_failed error=\"{}\"", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("local_socket_accept_failed error=\"{}\"", std::strerror(errno));
        if (errno == EMFILE || errno == ENFILE) {
          ::poll(nullptr, 0, 100);  // out of descriptors: do not spin
        }
      }
      continue;
    }
    auto caller = PeerCaller(fd);
    if (!caller.ok()) {
      spdlog::warn("local_socket_caller_unknown error=\"{}\"", caller.status().ToString());
      ::close(fd);
      continue;
    }
    callers_.Record(fd, std::move(*caller));
    ++accepted_;
    grpc::AddInsecureChannelFromFd(&server_, fd);  // gRPC owns fd from here
  }
}

}  // namespace feilong::daemon
