// TlsStage: the copy of the `tls:` files that a process actually serves and
// dials with, so that certificate rotation is all or nothing.
//
// An operator rotates by replacing the CA bundle, the certificate and the
// key one after another. Read in between, a new certificate meets the old
// key, or a certificate meets a CA bundle that does not sign it; read by
// gRPC's file watchers and the piece server separately, one side could take
// the new set while the other keeps the old. So nothing reads the
// configured files but this class: Create checks the set and copies it into
// anonymous in-memory files (memfd, reachable as /proc/self/fd/N, never on
// disk), and Refresh replaces the copies only with a set that is whole
// again: the key matches the certificate, the certificate chains to the CA
// bundle and is valid now. Each copy is swapped in with dup3 onto the same
// descriptor, so a reader opening a path sees the old file or the new one.
//
// Refresh runs on SIGHUP (fld and flsched call it from their signal loop)
// and every `reload_interval` from a thread this class owns. Readers check
// the copies every second (staged().reload_interval), so a taken set is in
// use within a second, for new connections; open connections, and the
// downloads on them, keep the set they started with.
//
// Thread rule: thread-safe. The background thread is stopped and joined by
// the destructor.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "rpc/tls_config.h"

namespace feilong::rpc {

// OK when `cert_pem` holds a certificate (then optional intermediates) that
// `key_pem` matches, that chains to a CA in `ca_pem` and that is valid now.
// InvalidArgument saying what is wrong, naming the files by `names` (the
// configured paths) otherwise.
Status CheckTlsSet(std::string_view ca_pem, std::string_view cert_pem, std::string_view key_pem,
                   const TlsConfig& names);

class TlsStage {
 public:
  // Reads and checks the configured set (CheckTlsSet) and stages it.
  // InvalidArgument naming the file when the set is not whole; IOError when
  // no in-memory file can be made.
  // REQUIRES: configured.enabled.
  static Result<std::unique_ptr<TlsStage>> Create(const TlsConfig& configured);
  ~TlsStage();
  TlsStage(const TlsStage&) = delete;
  TlsStage& operator=(const TlsStage&) = delete;

  // The `tls:` block to hand to gRPC credentials, the piece server and the
  // piece client: the staged copies, checked by their readers every second.
  const TlsConfig& staged() const { return staged_; }

  // Reads the configured files again. A whole set that differs from the
  // staged one replaces it: true. The same set: false. A set that is not
  // whole (or a file that cannot be read): the error, and the staged set
  // stays. Logs what it did.
  Result<bool> Refresh();

  // Sets taken since Create (1 + successful refreshes).
  uint64_t generation() const;

 private:
  struct Files {
    std::string ca;
    std::string cert;
    std::string key;
  };
  explicit TlsStage(const TlsConfig& configured);
  Result<Files> ReadConfigured() const;
  Status Stage(const Files& files);
  void WatchLoop(std::stop_token stop);

  const TlsConfig configured_;
  TlsConfig staged_;
  mutable std::mutex mutex_;
  Files current_;
  uint64_t generation_ = 0;
  // The descriptors behind staged_'s paths; replaced in place by Stage.
  int ca_fd_ = -1;
  int cert_fd_ = -1;
  int key_fd_ = -1;
  std::jthread watcher_;  // last: stopped before the rest goes
};

}  // namespace feilong::rpc
