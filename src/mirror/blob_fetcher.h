// BlobFetcher: how the mirror starts the P2P download of a blob. The daemon
// implements it over its TaskManager (src/daemon/mirror_blob_fetcher.h), so
// this component needs no daemon or gRPC headers and tests can fake it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace feilong::mirror {

struct BlobFetchRequest {
  std::string task_id;  // ContentTaskId(digest)
  // Upstream blob URL (the origin for going back to source; redirects to
  // storage are followed).
  std::string url;
  // "sha256:<hex>": the whole content must match it.
  std::string digest;
  // Headers for the origin, e.g. the client's Authorization.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct BlobProgress {
  bool content_length_known = false;
  uint64_t content_length = 0;
  uint64_t bytes_from_cache = 0;
  uint64_t bytes_from_peers = 0;
  uint64_t bytes_from_origin = 0;
  bool done = false;
  Status status;  // meaningful when done; OK only if the digest matched
};

class BlobFetcher {
 public:
  virtual ~BlobFetcher() = default;
  // Starts (or joins) the download. `on_progress` is called from another
  // thread, possibly after the caller lost interest; it must not block and
  // must keep what it touches alive (capture a shared_ptr). Errors: the
  // download could not start (e.g. Cancelled at shutdown).
  virtual Status Start(const BlobFetchRequest& request,
                       std::function<void(const BlobProgress&)> on_progress) = 0;
};

}  // namespace feilong::mirror
