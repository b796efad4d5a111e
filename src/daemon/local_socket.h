// LocalSocket: the unix socket of the daemon's local API (flget). The daemon
// accepts each connection itself, asks the kernel who is on the other end
// (SO_PEERCRED, SO_PEERGROUPS) and only then hands the connection to gRPC,
// so every call can be answered with the caller's rights (see output.h),
// not the daemon's.
//
// gRPC names a connection it was handed "fd:<n>" (its peer string); the
// CallerRegistry maps that name to the Caller recorded at accept. A
// descriptor number is reused only after gRPC closed the connection, and a
// call reads its caller when it starts, while its connection is open.
//
// Thread rule: CallerRegistry is thread-safe. LocalSocket is started and
// stopped by one owner; its accept loop runs on its own std::jthread, which
// Stop() (or the destructor) ends and joins.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/scoped_fd.h"
#include "common/status.h"
#include "daemon/caller.h"

namespace grpc {
class Server;
}

namespace feilong::daemon {

class CallerRegistry {
 public:
  // Records the caller of connection `fd`, replacing an older record. The
  // socket's inode is kept too, so a descriptor number reused by a later
  // connection is never taken for the earlier one.
  void Record(int fd, Caller caller);
  // The caller of the connection gRPC calls `peer` ("fd:<n>"). NotFound for
  // any other peer (a call that did not come through a LocalSocket).
  Result<Caller> CallerOf(std::string_view peer) const;

 private:
  mutable std::mutex mutex_;
  struct Entry {
    Caller caller;
    ino_t inode = 0;
  };
  std::map<int, Entry> callers_;
};

struct LocalSocketOptions {
  std::string path;
  // Permission bits of the socket file. Who may connect is who may use the
  // local API. Default: 0660 (the daemon's user and the socket's group).
  mode_t mode = 0660;
  // Group of the socket file; unset: the daemon's group.
  std::optional<gid_t> group;
};

class LocalSocket {
 public:
  // Binds `options.path` (an existing file there is replaced: the caller
  // makes sure no daemon serves it), sets its mode and group, and hands each
  // accepted connection to `server`, which must be started and must outlive
  // the socket. IOError naming the path when it cannot be bound;
  // PermissionDenied when the group cannot be set.
  static Result<std::unique_ptr<LocalSocket>> Start(const LocalSocketOptions& options,
                                                    grpc::Server& server, CallerRegistry& callers);
  ~LocalSocket();  // Stop()
  LocalSocket(const LocalSocket&) = delete;
  LocalSocket& operator=(const LocalSocket&) = delete;

  // Stops accepting and removes the socket file. Connections already handed
  // to gRPC stay until the server shuts down. Idempotent.
  void Stop();

  // Connections accepted so far.
  uint64_t accepted() const;

 private:
  LocalSocket(LocalSocketOptions options, grpc::Server& server, CallerRegistry& callers)
      : options_(std::move(options)), server_(server), callers_(callers) {}
  void AcceptLoop(const std::stop_token& stop);

  LocalSocketOptions options_;
  grpc::Server& server_;
  CallerRegistry& callers_;
  ScopedFd listener_;
  ScopedFd wake_;  // eventfd: Stop() wakes the accept loop
  std::jthread thread_;
  std::mutex mutex_;
  bool stopped_ = false;
  std::atomic<uint64_t> accepted_{0};
};

}  // namespace feilong::daemon
