// The daemon's gRPC services: the local API (flget, over a unix socket) and
// the peer API (other daemons and the scheduler, over TCP). Both use the
// gRPC callback API; handlers never block a gRPC thread on a download.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"
#include "daemon/trigger_policy.h"
#include "feilong/daemon/v1/daemon.grpc.pb.h"

namespace feilong::storage {
class PieceStore;
}

namespace feilong::daemon {

class TaskManager;
class PieceHub;
class CallerRegistry;
struct DaemonConfig;

// Computes a task id from a spec, validating the URL. InvalidArgument for a
// malformed URL or an unsupported scheme.
Result<std::string> TaskIdForSpec(const common::v1::TaskSpec& spec);

// Whether fetching `spec` uses credentials (a credential header, a signed
// URL: source/url.h): its task is private (access/grant.h).
bool SpecCarriesCredentials(const common::v1::TaskSpec& spec);

class LocalService final : public v1::Daemon::CallbackService {
 public:
  // `callers` tells who is on the other end of each call (local_socket.h).
  LocalService(TaskManager& tasks, storage::PieceStore& store, const DaemonConfig& config,
               const CallerRegistry& callers)
      : tasks_(tasks), store_(store), config_(config), callers_(callers) {}

  grpc::ServerWriteReactor<v1::DownloadProgress>* Download(
      grpc::CallbackServerContext* context, const v1::DownloadRequest* request) override;
  grpc::ServerUnaryReactor* StatTask(grpc::CallbackServerContext* context,
                                     const v1::StatTaskRequest* request,
                                     v1::TaskInfo* response) override;
  grpc::ServerUnaryReactor* DeleteTask(grpc::CallbackServerContext* context,
                                       const v1::DeleteTaskRequest* request,
                                       v1::DeleteTaskResponse* response) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* context,
                                      const v1::ListTasksRequest* request,
                                      v1::ListTasksResponse* response) override;

 private:
  TaskManager& tasks_;
  storage::PieceStore& store_;
  const DaemonConfig& config_;
  const CallerRegistry& callers_;
};

class PeerService final : public v1::Peer::CallbackService {
 public:
  // `trigger` decides who may call TriggerDownload (trigger_policy.h);
  // `grants_refused` counts SyncPieces refused for want of a grant.
  PeerService(TaskManager& tasks, storage::PieceStore& store, PieceHub& hub, TriggerPolicy trigger,
              metrics::Counter& grants_refused)
      : tasks_(tasks),
        store_(store),
        hub_(hub),
        trigger_(std::move(trigger)),
        grants_refused_(grants_refused) {}

  grpc::ServerWriteReactor<v1::PieceAvailability>* SyncPieces(
      grpc::CallbackServerContext* context, const v1::SyncPiecesRequest* request) override;
  grpc::ServerUnaryReactor* TriggerDownload(grpc::CallbackServerContext* context,
                                            const v1::TriggerDownloadRequest* request,
                                            v1::TriggerDownloadResponse* response) override;

 private:
  TaskManager& tasks_;
  storage::PieceStore& store_;
  PieceHub& hub_;
  const TriggerPolicy trigger_;
  metrics::Counter& grants_refused_;
};

}  // namespace feilong::daemon
