#include "daemon/download/parent_watcher.h"

#include "daemon/thread_name.h"
#include "feilong/daemon/v1/daemon.grpc.pb.h"

namespace feilong::daemon {

namespace dv1 = feilong::daemon::v1;

ParentWatcher::ParentWatcher(std::string address,
                             std::shared_ptr<grpc::ChannelCredentials> credentials,
                             std::string task_id, std::string my_peer_id, std::string grant,
                             OnPieces on_pieces, OnEnd on_end)
    : address_(std::move(address)),
      credentials_(std::move(credentials)),
      task_id_(std::move(task_id)),
      my_peer_id_(std::move(my_peer_id)),
      grant_(std::move(grant)),
      on_pieces_(std::move(on_pieces)),
      on_end_(std::move(on_end)) {
  thread_ = std::jthread([this] {
    SetThreadName("fl-parent");
    Run();
  });
}

ParentWatcher::~ParentWatcher() {
  stopping_ = true;
  context_.TryCancel();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ParentWatcher::Run() {
  auto channel = grpc::CreateChannel(address_, credentials_);
  auto stub = dv1::Peer::NewStub(channel);
  dv1::SyncPiecesRequest request;
  request.set_task_id(task_id_);
  request.set_peer_id(my_peer_id_);
  request.set_grant(grant_);
  auto reader = stub->SyncPieces(&context_, request);
  dv1::PieceAvailability message;
  while (reader->Read(&message)) {
    on_pieces_(std::vector<uint32_t>(message.numbers().begin(), message.numbers().end()));
  }
  grpc::Status status = reader->Finish();
  if (stopping_) {
    return;  // the owner cancelled the stream and no longer listens
  }
  on_end_(status.ok() ? Status::Ok()
                      : Status::Unavailable("parent " + address_ + ": " + status.error_message()));
}

}  // namespace feilong::daemon
