#include "daemon/download/parent_watcher.h"

#include <fmt/format.h>

#include "feilong/daemon/v1/daemon.grpc.pb.h"

namespace feilong::daemon {

namespace dv1 = feilong::daemon::v1;

// One SyncPieces call. It owns itself while gRPC may still call it: `self_`
// is released in OnDone, the last reaction.
class ParentWatcher::Call final : public grpc::ClientReadReactor<dv1::PieceAvailability> {
 public:
  Call(std::string address, OnPieces on_pieces, OnEnd on_end)
      : address_(std::move(address)),
        on_pieces_(std::move(on_pieces)),
        on_end_(std::move(on_end)) {}

  void Start(std::shared_ptr<Call> self, const std::shared_ptr<grpc::Channel>& channel,
             dv1::SyncPiecesRequest request) {
    self_ = std::move(self);
    request_ = std::move(request);
    stub_ = dv1::Peer::NewStub(channel);
    stub_->async()->SyncPieces(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }

  // No callback runs once this returns.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    context_.TryCancel();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      return;  // the stream ended; OnDone follows
    }
    {
      std::lock_guard lock(mutex_);
      if (!stopped_) {
        on_pieces_(std::vector<uint32_t>(message_.numbers().begin(), message_.numbers().end()));
      }
    }
    message_.Clear();
    StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard lock(mutex_);
      if (!stopped_) {
        on_end_(status.ok()
                    ? Status::Ok()
                    : Status::Unavailable("parent " + address_ + ": " + status.error_message()));
      }
    }
    self_.reset();  // may destroy this object: nothing after
  }

 private:
  const std::string address_;
  OnPieces on_pieces_;
  OnEnd on_end_;
  std::unique_ptr<dv1::Peer::Stub> stub_;
  grpc::ClientContext context_;
  dv1::SyncPiecesRequest request_;
  dv1::PieceAvailability message_;
  // Held while a callback runs, so Stop waits for one that is running.
  std::mutex mutex_;
  bool stopped_ = false;
  std::shared_ptr<Call> self_;
};

ParentWatcher::ParentWatcher(const std::shared_ptr<grpc::Channel>& channel, std::string address,
                             const std::string& task_id, const std::string& my_peer_id,
                             const std::string& grant, OnPieces on_pieces, OnEnd on_end)
    : call_(std::make_shared<Call>(std::move(address), std::move(on_pieces), std::move(on_end))) {
  dv1::SyncPiecesRequest request;
  request.set_task_id(task_id);
  request.set_peer_id(my_peer_id);
  request.set_grant(grant);
  call_->Start(call_, channel, std::move(request));
}

ParentWatcher::~ParentWatcher() { call_->Stop(); }

std::shared_ptr<grpc::Channel> GrpcParentFeed::ChannelTo(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& channel = channels_[address];
  if (!channel) {
    channel = grpc::CreateChannel(address, credentials_);
  }
  return channel;
}

std::unique_ptr<ParentSubscription> GrpcParentFeed::Watch(
    const scheduler::v1::CandidateParent& parent, const std::string& task_id,
    const std::string& my_peer_id, const std::string& grant, OnPieces on_pieces, OnEnd on_end) {
  const std::string& ip = parent.host().ip();
  std::string address = ip.find(':') != std::string::npos
                            ? fmt::format("[{}]:{}", ip, parent.host().peer_port())
                            : fmt::format("{}:{}", ip, parent.host().peer_port());
  return std::make_unique<ParentWatcher>(ChannelTo(address), address, task_id, my_peer_id, grant,
                                         std::move(on_pieces), std::move(on_end));
}

}  // namespace feilong::daemon
