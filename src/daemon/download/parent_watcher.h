// ParentWatcher: follows one parent's piece availability for one task over
// the parent's SyncPieces stream, on its own thread, and reports what it
// learns through callbacks (run on that thread).
//
// Thread rule: construct and destroy from the owning conductor thread; the
// destructor cancels the stream and joins.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace feilong::daemon {

class ParentWatcher {
 public:
  using OnPieces = std::function<void(std::vector<uint32_t> numbers)>;
  // OK when the parent ended the stream normally (it holds all it will).
  using OnEnd = std::function<void(Status)>;

  // `credentials` for the channel to the parent's peer API
  // (rpc/tls_credentials.h); `grant` for a private task (access/grant.h),
  // else empty.
  ParentWatcher(std::string address, std::shared_ptr<grpc::ChannelCredentials> credentials,
                std::string task_id, std::string my_peer_id, std::string grant, OnPieces on_pieces,
                OnEnd on_end);
  ~ParentWatcher();
  ParentWatcher(const ParentWatcher&) = delete;
  ParentWatcher& operator=(const ParentWatcher&) = delete;

 private:
  void Run();

  std::string address_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string task_id_;
  std::string my_peer_id_;
  std::string grant_;
  OnPieces on_pieces_;
  OnEnd on_end_;
  grpc::ClientContext context_;
  std::atomic<bool> stopping_{false};
  std::jthread thread_;
};

}  // namespace feilong::daemon
