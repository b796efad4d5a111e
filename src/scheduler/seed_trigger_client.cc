#include "scheduler/seed_trigger_client.h"

#include <grpcpp/grpcpp.h>

#include "rpc/grpc_status.h"

namespace feilong::scheduler {

struct SeedTriggerClient::Call {
  grpc::ClientContext context;
  daemon::v1::TriggerDownloadRequest request;
  daemon::v1::TriggerDownloadResponse response;
  std::function<void(Status)> done;
};

SeedTriggerClient::SeedTriggerClient(std::chrono::milliseconds timeout,
                                     std::shared_ptr<grpc::ChannelCredentials> credentials)
    : timeout_(timeout), credentials_(std::move(credentials)) {}

SeedTriggerClient::~SeedTriggerClient() { Shutdown(); }

daemon::v1::Peer::Stub& SeedTriggerClient::StubFor(const std::string& address) {
  auto it = stubs_.find(address);
  if (it == stubs_.end()) {
    auto channel = grpc::CreateChannel(address, credentials_);
    it = stubs_.emplace(address, daemon::v1::Peer::NewStub(channel)).first;
  }
  return *it->second;
}

void SeedTriggerClient::Trigger(const SeedTrigger& trigger, std::function<void(Status)> done) {
  auto* call = new Call;
  call->request.set_task_id(trigger.task_id);
  *call->request.mutable_spec() = trigger.spec;
  call->done = std::move(done);
  call->context.set_deadline(std::chrono::system_clock::now() + timeout_);
  daemon::v1::Peer::Stub* stub;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) {
      delete call;
      return;
    }
    in_flight_.insert(call);
    stub = &StubFor(trigger.address);
  }
  stub->async()->TriggerDownload(&call->context, &call->request, &call->response,
                                 [this, call](grpc::Status status) {
                                   call->done(rpc::FromGrpcStatus(status));
                                   std::lock_guard lock(mutex_);
                                   in_flight_.erase(call);
                                   delete call;
                                   if (in_flight_.empty()) {
                                     idle_.notify_all();
                                   }
                                 });
}

void SeedTriggerClient::Shutdown() {
  std::unique_lock lock(mutex_);
  shut_down_ = true;
  for (Call* call : in_flight_) {
    call->context.TryCancel();
  }
  idle_.wait(lock, [this] { return in_flight_.empty(); });
}

}  // namespace feilong::scheduler
