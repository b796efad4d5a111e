#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <span>
#include <vector>

#include "access/grant.h"
#include "common/clock.h"
#include "daemon/download/task_manager.h"
#include "daemon/services.h"
#include "daemon/trigger_policy.h"
#include "daemon/upload/piece_hub.h"
#include "rpc/grpc_status.h"
#include "rpc/tls_credentials.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

namespace dv1 = feilong::daemon::v1;

namespace {

// Streams a task's piece numbers to one child: what is held now, then each
// batch of new pieces the hub delivers, until the task's download ends.
// Pieces that arrive while a write is in flight join the next message.
class SyncPiecesReactor final : public grpc::ServerWriteReactor<dv1::PieceAvailability> {
 public:
  SyncPiecesReactor(storage::PieceStore& store, PieceHub& hub, std::string task_id)
      : store_(store), hub_(hub), task_id_(std::move(task_id)) {}

  // Ends the call with `status` before anything is sent.
  void Refuse(const Status& status) {
    std::lock_guard lock(state_->mutex);
    state_->finished = true;
    Finish(rpc::ToGrpcStatus(status));
  }

  void Begin() {
    // Subscribe before listing so no piece falls between the two.
    auto state = state_;
    subscription_ = hub_.Subscribe(
        task_id_, PieceHub::Listener{
                      [state](std::span<const uint32_t> numbers) { state->Add(numbers); },
                      [state]() { state->End(); },
                  });
    bool active = hub_.IsActive(task_id_);
    auto meta = store_.GetTask(task_id_);
    if (!meta.ok() && !active) {
      std::lock_guard lock(state_->mutex);
      state_->finished = true;
      Finish(rpc::ToGrpcStatus(meta.status()));
      return;
    }
    {
      std::lock_guard lock(state_->mutex);
      state_->reactor = this;
      if (meta.ok()) {
        state_->content_length = meta->content_length;
        state_->piece_length = meta->piece_length;
        auto pieces = store_.ListPieces(task_id_);
        if (pieces.ok()) {
          for (const auto& p : *pieces) {
            state_->pending.push_back(p.number);
          }
        }
      }
      if (!active || (meta.ok() && meta->complete)) {
        state_->ended = true;
      }
      state_->ready = true;
      state_->FlushLocked();
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mutex);
    state_->writing = false;
    if (!ok) {
      state_->finished = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "child went away"));
      return;
    }
    state_->FlushLocked();
  }

  void OnDone() override {
    {
      std::lock_guard lock(state_->mutex);
      state_->reactor = nullptr;
    }
    subscription_.reset();
    delete this;
  }

 private:
  struct State {
    std::recursive_mutex mutex;
    SyncPiecesReactor* reactor = nullptr;
    bool ready = false;
    bool writing = false;
    bool ended = false;
    bool finished = false;
    uint64_t content_length = 0;
    uint32_t piece_length = 0;
    std::vector<uint32_t> pending;
    dv1::PieceAvailability current;

    void Add(std::span<const uint32_t> numbers) {
      std::lock_guard lock(mutex);
      pending.insert(pending.end(), numbers.begin(), numbers.end());
      FlushLocked();
    }
    void End() {
      std::lock_guard lock(mutex);
      ended = true;
      FlushLocked();
    }
    void FlushLocked() {
      if (!ready || reactor == nullptr || writing || finished) {
        return;
      }
      if (!pending.empty()) {
        current.Clear();
        current.mutable_numbers()->Add(pending.begin(), pending.end());
        current.set_content_length(content_length);
        current.set_piece_length(piece_length);
        pending.clear();
        writing = true;
        reactor->StartWrite(&current);
        return;
      }
      if (ended) {
        finished = true;
        reactor->Finish(grpc::Status::OK);
      }
    }
  };

  storage::PieceStore& store_;
  PieceHub& hub_;
  std::string task_id_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::unique_ptr<PieceHub::Subscription> subscription_;
};

}  // namespace

grpc::ServerWriteReactor<dv1::PieceAvailability>* PeerService::SyncPieces(
    grpc::CallbackServerContext* context, const dv1::SyncPiecesRequest* request) {
  auto* reactor = new SyncPiecesReactor(store_, hub_, request->task_id());
  auto meta = store_.GetTask(request->task_id());
  if (meta.ok() && meta->private_task) {
    std::optional<std::string> ip = PeerIp(context->peer());
    Status granted = access::CheckGrant(request->grant(), meta->grant_key, request->task_id(),
                                        ip.value_or(""), SteadyClock::Default().NowUnixSeconds());
    if (!granted.ok()) {
      spdlog::debug("sync_grant_refused task={} peer={} reason=\"{}\"", request->task_id(),
                    context->peer(), granted.message());
      grants_refused_.Increment();
      reactor->Refuse(Status::PermissionDenied("private task: a valid grant is required"));
      return reactor;
    }
  }
  reactor->Begin();
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::TriggerDownload(grpc::CallbackServerContext* context,
                                                       const dv1::TriggerDownloadRequest* request,
                                                       dv1::TriggerDownloadResponse* /*response*/) {
  auto* reactor = context->DefaultReactor();
  Status allowed = trigger_.Check(context->peer(), rpc::CallerRoles(context->auth_context().get()));
  if (!allowed.ok()) {
    spdlog::warn("seed_trigger_refused task={} peer={} error=\"{}\"", request->task_id(),
                 context->peer(), allowed.message());
    reactor->Finish(rpc::ToGrpcStatus(allowed));
    return reactor;
  }
  auto task_id = TaskIdForSpec(request->spec());
  if (!task_id.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(task_id.status()));
    return reactor;
  }
  if (*task_id != request->task_id()) {
    reactor->Finish(rpc::ToGrpcStatus(Status::InvalidArgument(
        "task id " + request->task_id() + " does not match the spec (expected " + *task_id + ")")));
    return reactor;
  }
  DownloadRequestOptions options;
  options.task_id = *task_id;
  options.spec = request->spec();
  options.private_task = SpecCarriesCredentials(request->spec());
  // Sent by the scheduler to read the origin with the registrant's request.
  options.access_proven = true;
  options.allow_back_to_source = true;
  DownloadWaiter waiter;
  waiter.on_progress = [](const DownloadProgress&) {};
  Status started = tasks_.Start(options, std::move(waiter));
  spdlog::info("seed_triggered task={} started={}", *task_id, started.ok());
  reactor->Finish(rpc::ToGrpcStatus(started));
  return reactor;
}

}  // namespace feilong::daemon
