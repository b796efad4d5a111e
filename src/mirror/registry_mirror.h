// RegistryMirror: the HTTP/1.1 server containerd, docker, podman and skopeo
// use as a registry mirror (docs/registry-mirror.md).
//
//   GET  /v2/<name>/blobs/sha256:<hex>   a P2P task keyed by the digest
//        (common/task_id.h ContentTaskId); the body streams to the client from the
//        piece store, in order, as pieces arrive. The last bytes are held
//        back until the download finished and the whole content matched the
//        digest: a corrupt blob is never handed over complete (the
//        connection is cut, the client sees a short body). Before starting,
//        the registry is asked (HEAD of the blob with the client's
//        credentials) whether it would serve this client; if not, the
//        request passes through and the client gets the registry's own
//        answer (e.g. 401 with WWW-Authenticate).
//   anything else (manifests, tags, /v2/, HEAD of blobs, other digests)
//        passes through to the registry unchanged (mirror/forwarder.h).
//   methods other than GET and HEAD: 405 (the mirror is read-only).
// The upstream registry comes from containerd's `ns=` query parameter, else
// the X-Feilong-Registry header, else `default_registry` (upstream.h).
// Credentials (Authorization) travel to the registry and into the
// download's origin request, never into a task id or a log line.
//
// Concurrency: one Boost.Asio io_context run by `threads` std::jthreads;
// each client connection is one C++20 coroutine (asio::awaitable) on its
// own strand. A blob coroutine is woken by the download's progress callback
// (which stores a snapshot under a mutex and posts the wake-up to the
// coroutine's strand: mirror/piece_stream.h), and reads pieces with pread(2) on the loop thread
// (page-cache reads, 256 KiB at a time, hashed as they go).
//
// Thread rule: all methods are thread-safe. Stop() (also run by the
// destructor) is idempotent; it closes every connection and joins the
// threads. REQUIRES: `fetcher` and `store` outlive the mirror, and the
// fetcher stops calling progress callbacks that touch the mirror only
// through shared state (they never touch the mirror itself).
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "mirror/blob_fetcher.h"
#include "mirror/mirror_config.h"

namespace feilong::storage {
class PieceStore;
}
namespace feilong::metrics {
class Registry;
}

namespace feilong::mirror {

struct MirrorStats {
  uint64_t blob_requests = 0;  // blob GETs handled as P2P tasks
  uint64_t blobs_served = 0;   // of which fully sent and verified
  uint64_t blobs_refused = 0;  // failed download or digest mismatch
  uint64_t blob_bytes = 0;     // body bytes of blob GETs sent
  uint64_t passthrough_requests = 0;
};

class RegistryMirror {
 public:
  // Binds `config.listen` and starts serving. REQUIRES:
  // ValidateMirrorConfig(config) succeeded. InvalidArgument for a bad
  // listen address; IOError naming it when it cannot bind.
  // Counters go to `metrics` when given (it must outlive the mirror):
  //   feilong_mirror_requests_total{kind="blob"|"passthrough"}
  //   feilong_mirror_blobs_total{result="served"|"refused"}
  //   feilong_mirror_blob_bytes_total
  static Result<std::unique_ptr<RegistryMirror>> Start(const MirrorConfig& config,
                                                       BlobFetcher& fetcher,
                                                       storage::PieceStore& store,
                                                       metrics::Registry* metrics = nullptr);
  ~RegistryMirror();
  RegistryMirror(const RegistryMirror&) = delete;
  RegistryMirror& operator=(const RegistryMirror&) = delete;

  uint16_t port() const;
  MirrorStats stats() const;
  void Stop();

 private:
  struct Impl;
  explicit RegistryMirror(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::mirror
