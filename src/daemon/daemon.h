// Daemon: one peer daemon (fld), wired from its parts. Tests run it
// in-process; src/bin/fld/main.cc runs it as a process.
//
// Start order: piece store, transfer pool, piece server, task manager, gRPC
// servers (peer TCP, local unix socket), metrics, background loops (host
// announcements, GC). Stop reverses it: no new requests, downloads
// cancelled and joined, then transfers, then the store.
//
// Thread rule: Start and Stop from one thread; accessors are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "daemon/daemon_config.h"

namespace feilong::daemon {

class Daemon {
 public:
  // REQUIRES: FinalizeDaemonConfig(config) succeeded.
  static Result<std::unique_ptr<Daemon>> Start(const DaemonConfig& config);
  ~Daemon();  // Stop()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Tells the schedulers this host leaves, then stops everything. Idempotent.
  void Stop();

  // Takes the `tls:` files again now (fld does on SIGHUP; they are also
  // checked every tls.reload_interval): true when a new, whole set was
  // taken, false when unchanged or TLS is off, the error when the files do
  // not form a whole set (the one in use stays). rpc/tls_stage.h.
  Result<bool> ReloadTls();

  uint16_t peer_port() const;
  uint16_t piece_port() const;
  uint16_t metrics_port() const;  // 0 when metrics are off
  uint16_t mirror_port() const;   // 0 when the registry mirror is off
  uint16_t proxy_port() const;    // 0 when the HTTP proxy is off
  const DaemonConfig& config() const;

 private:
  class Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::daemon
