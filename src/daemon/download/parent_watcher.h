// ParentWatcher: follows one parent's piece availability for one task over
// the parent's SyncPieces stream, on gRPC's callback API: no thread of its
// own, whatever the number of parents and downloads. What it learns goes to
// callbacks, run on gRPC's threads. GrpcParentFeed, the daemon's
// ParentFeed (parent_feed.h), makes one per parent and shares one channel
// per parent address.
//
// Thread rule: construct and destroy from one thread (the download's
// strand). After the destructor returns no callback runs; the stream itself
// ends on gRPC's threads a moment later.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/download/parent_feed.h"

namespace feilong::daemon {

class ParentWatcher final : public ParentSubscription {
 public:
  using OnPieces = ParentFeed::OnPieces;
  using OnEnd = ParentFeed::OnEnd;

  // `grant` for a private task (access/grant.h), else empty.
  ParentWatcher(const std::shared_ptr<grpc::Channel>& channel, std::string address,
                const std::string& task_id, const std::string& my_peer_id, const std::string& grant,
                OnPieces on_pieces, OnEnd on_end);
  ~ParentWatcher() override;
  ParentWatcher(const ParentWatcher&) = delete;
  ParentWatcher& operator=(const ParentWatcher&) = delete;

 private:
  class Call;
  std::shared_ptr<Call> call_;
};

class GrpcParentFeed final : public ParentFeed {
 public:
  // `credentials` for the channels to parents' peer API
  // (rpc/tls_credentials.h).
  explicit GrpcParentFeed(std::shared_ptr<grpc::ChannelCredentials> credentials)
      : credentials_(std::move(credentials)) {}
  std::unique_ptr<ParentSubscription> Watch(const scheduler::v1::CandidateParent& parent,
                                            const std::string& task_id,
                                            const std::string& my_peer_id, const std::string& grant,
                                            OnPieces on_pieces, OnEnd on_end) override;

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace feilong::daemon
