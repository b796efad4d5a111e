// SeedTriggerClient: asks seed peers to download a task, with the daemon's
// Peer.TriggerDownload RPC (gRPC async client API, one deadline per call).
//
// Thread rule: thread-safe. `done` callbacks run on gRPC's threads, one per
// call, never while an internal lock is held; they may call Trigger again.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"
#include "feilong/daemon/v1/daemon.grpc.pb.h"
#include "scheduler/scheduler_state.h"

namespace feilong::scheduler {

class SeedTriggerClient {
 public:
  // `timeout` is the deadline of each call (config seed_trigger_timeout).
  // `credentials` for the channels to seeds (rpc/tls_credentials.h).
  SeedTriggerClient(std::chrono::milliseconds timeout,
                    std::shared_ptr<grpc::ChannelCredentials> credentials);
  SeedTriggerClient(const SeedTriggerClient&) = delete;
  SeedTriggerClient& operator=(const SeedTriggerClient&) = delete;
  // Calls Shutdown().
  ~SeedTriggerClient();

  // Starts TriggerDownload{task_id, spec} on trigger.address; `done` gets OK
  // or the call's error (DeadlineExceeded after the timeout, Unavailable when
  // the seed cannot be reached...). After Shutdown the call is dropped and
  // `done` is never called.
  void Trigger(const SeedTrigger& trigger, std::function<void(Status)> done);

  // Cancels calls in flight, waits until their callbacks have returned, and
  // drops later calls. Idempotent.
  void Shutdown();

 private:
  struct Call;

  // REQUIRES: mutex_ held.
  daemon::v1::Peer::Stub& StubFor(const std::string& address);

  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mutex_;
  std::condition_variable idle_;
  bool shut_down_ = false;
  std::set<Call*> in_flight_;
  std::map<std::string, std::unique_ptr<daemon::v1::Peer::Stub>> stubs_;  // by address
};

}  // namespace feilong::scheduler
