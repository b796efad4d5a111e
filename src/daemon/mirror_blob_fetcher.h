// MirrorBlobFetcher: the registry mirror's way into the daemon's downloads.
// A blob becomes a task with the mirror's digest-derived id, the upstream
// blob URL as origin, the client's Authorization for the origin, and the
// digest the whole content must match (application "oci-blob").
//
// Thread rule: thread-safe (TaskManager is).
#pragma once

#include "daemon/download/task_manager.h"
#include "mirror/blob_fetcher.h"

namespace feilong::daemon {

// What the mirror and the proxy stream by: a download's progress, without
// the fields they have no use for.
mirror::BlobProgress ToBlobProgress(const DownloadProgress& progress);

class MirrorBlobFetcher final : public mirror::BlobFetcher {
 public:
  // REQUIRES: `tasks` and `config` outlive this object.
  MirrorBlobFetcher(TaskManager& tasks, const DaemonConfig& config)
      : tasks_(tasks), config_(config) {}

  Status Start(const mirror::BlobFetchRequest& request,
               std::function<void(const mirror::BlobProgress&)> on_progress) override;

 private:
  TaskManager& tasks_;
  const DaemonConfig& config_;
};

}  // namespace feilong::daemon
