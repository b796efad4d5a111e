#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <mutex>
#include <optional>

#include "common/task_id.h"
#include "daemon/daemon_config.h"
#include "daemon/download/output.h"
#include "daemon/download/task_manager.h"
#include "daemon/local_socket.h"
#include "daemon/services.h"
#include "rpc/grpc_status.h"
#include "source/source_client.h"
#include "source/url.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

namespace dv1 = feilong::daemon::v1;

bool SpecCarriesCredentials(const common::v1::TaskSpec& spec) {
  if (source::UrlCarriesCredentials(spec.url())) {
    return true;
  }
  for (const auto& [name, value] : spec.request_headers()) {
    if (source::IsCredentialHeader(name)) {
      return true;
    }
  }
  return false;
}

Result<std::string> TaskIdForSpec(const common::v1::TaskSpec& spec) {
  FL_RETURN_IF_ERROR(source::ValidateSourceUrl(spec.url()));
  if (spec.piece_length() != 0 && (spec.piece_length() < source::kMinRequestedPieceLength ||
                                   spec.piece_length() > source::kMaxPieceLength)) {
    return Status::InvalidArgument("piece length " + std::to_string(spec.piece_length()) +
                                   " is outside [" +
                                   std::to_string(source::kMinRequestedPieceLength) + ", " +
                                   std::to_string(source::kMaxPieceLength) + "] bytes");
  }
  if (!spec.digest().empty() || spec.application() == kOciBlobApplication) {
    // Content-addressed: the download checks the whole content against the
    // digest before the task is complete, so whoever asks by this digest
    // gets these bytes, whatever URL, registry or token they came with.
    FL_ASSIGN_OR_RETURN(Sha256Digest digest, ParseSha256String(spec.digest()));
    return ContentTaskId(HexEncode(digest), spec.piece_length());
  }
  FL_ASSIGN_OR_RETURN(std::string normalized, source::NormalizeUrlForTaskId(spec.url()));
  return UrlTaskId(normalized, spec.tag(), spec.application(), spec.piece_length());
}

namespace {

void FillProgress(const DownloadProgress& p, dv1::DownloadProgress& out) {
  out.set_task_id(p.task_id);
  out.set_content_length(p.content_length);
  out.set_content_length_known(p.content_length_known);
  out.set_completed_length(p.completed_length);
  out.set_done(p.done);
  if (p.done && !p.status.ok()) {
    out.set_error_code(std::string(StatusCodeName(p.status.code())));
    out.set_error_message(p.status.message());
  }
  out.set_bytes_from_cache(p.bytes_from_cache);
  out.set_bytes_from_peers(p.bytes_from_peers);
  out.set_bytes_from_origin(p.bytes_from_origin);
  out.set_back_to_source_reason(p.back_to_source_reason);
  out.set_parent_count(p.parent_count);
}

// Streams a download's progress to one caller, sending only the newest
// snapshot when the caller reads slower than progress is made. The download
// keeps running if the caller goes away (others may want it; it is cached).
class DownloadReactor final : public grpc::ServerWriteReactor<dv1::DownloadProgress> {
 public:
  // Shared with the download's waiter, which may outlive this reactor.
  struct Sink {
    std::recursive_mutex mutex;
    DownloadReactor* reactor = nullptr;
    void Deliver(const DownloadProgress& p) {
      std::lock_guard lock(mutex);
      if (reactor != nullptr) {
        reactor->Offer(p);
      }
    }
  };

  DownloadReactor() : sink_(std::make_shared<Sink>()) { sink_->reactor = this; }

  std::shared_ptr<Sink> sink() { return sink_; }

  void FailNow(const Status& s) {
    std::lock_guard lock(sink_->mutex);
    finished_ = true;
    Finish(rpc::ToGrpcStatus(s));
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(sink_->mutex);
    writing_ = false;
    if (!ok) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnDone() override {
    {
      std::lock_guard lock(sink_->mutex);
      sink_->reactor = nullptr;
    }
    delete this;
  }

 private:
  void Offer(const DownloadProgress& p) {
    if (finished_ || final_queued_) {
      return;
    }
    pending_ = dv1::DownloadProgress();
    FillProgress(p, *pending_);
    if (p.done) {
      final_queued_ = true;
    }
    WriteNextLocked();
  }

  void WriteNextLocked() {
    if (writing_ || finished_) {
      return;
    }
    if (pending_) {
      current_ = std::move(*pending_);
      pending_.reset();
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (final_queued_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  std::shared_ptr<Sink> sink_;
  std::optional<dv1::DownloadProgress> pending_;
  dv1::DownloadProgress current_;
  bool writing_ = false;
  bool final_queued_ = false;
  bool finished_ = false;
};

void FillTaskInfo(const storage::TaskMeta& meta, uint32_t held, dv1::TaskInfo& info) {
  info.set_task_id(meta.task_id);
  info.set_url(meta.url);
  info.set_content_length(meta.content_length);
  info.set_piece_length(meta.piece_length);
  info.set_piece_count(meta.PieceCount());
  info.set_pieces_held(held);
  info.set_complete(meta.complete);
  info.set_created_at_unix(meta.created_at_unix);
  info.set_accessed_at_unix(meta.accessed_at_unix);
}

}  // namespace

grpc::ServerWriteReactor<dv1::DownloadProgress>* LocalService::Download(
    grpc::CallbackServerContext* context, const dv1::DownloadRequest* request) {
  auto* reactor = new DownloadReactor();
  // Read while the connection is open: its record is current (local_socket.h).
  auto caller = callers_.CallerOf(context->peer());
  if (!caller.ok()) {
    reactor->FailNow(
        Status::PermissionDenied("cannot tell who is calling: " + caller.status().message()));
    return reactor;
  }
  auto task_id = TaskIdForSpec(request->spec());
  if (!task_id.ok()) {
    reactor->FailNow(task_id.status());
    return reactor;
  }
  if (request->output_path().empty()) {
    reactor->FailNow(Status::InvalidArgument("output path is required"));
    return reactor;
  }
  Status valid = CheckOutputPath(request->output_path(), *caller);
  if (!valid.ok()) {
    reactor->FailNow(valid);
    return reactor;
  }
  DownloadWaiter waiter;
  waiter.output_path = request->output_path();
  waiter.caller = std::move(*caller);
  waiter.on_progress = [sink = reactor->sink()](const DownloadProgress& p) { sink->Deliver(p); };

  DownloadRequestOptions options;
  options.task_id = *task_id;
  options.spec = request->spec();
  options.private_task = SpecCarriesCredentials(request->spec());
  options.allow_back_to_source = config_.back_to_source && !request->disable_back_to_source();
  options.timeout = request->timeout_seconds() > 0
                        ? std::chrono::milliseconds(request->timeout_seconds() * 1000LL)
                        : config_.download_timeout;
  // A private task is served only after the origin took this caller's own
  // request (task_manager.h); that probe may block this handler briefly.
  Status started = tasks_.Start(options, std::move(waiter), /*prove_access=*/true);
  if (!started.ok()) {
    reactor->FailNow(started);
  }
  return reactor;
}

grpc::ServerUnaryReactor* LocalService::StatTask(grpc::CallbackServerContext* context,
                                                 const dv1::StatTaskRequest* request,
                                                 dv1::TaskInfo* response) {
  auto* reactor = context->DefaultReactor();
  auto meta = store_.GetTask(request->task_id());
  if (!meta.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(meta.status()));
    return reactor;
  }
  auto pieces = store_.ListPieces(request->task_id());
  FillTaskInfo(*meta, pieces.ok() ? static_cast<uint32_t>(pieces->size()) : 0, *response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LocalService::DeleteTask(grpc::CallbackServerContext* context,
                                                   const dv1::DeleteTaskRequest* request,
                                                   dv1::DeleteTaskResponse* /*response*/) {
  auto* reactor = context->DefaultReactor();
  if (tasks_.IsRunning(request->task_id())) {
    reactor->Finish(rpc::ToGrpcStatus(
        Status::FailedPrecondition("task " + request->task_id() + " is being downloaded")));
    return reactor;
  }
  reactor->Finish(rpc::ToGrpcStatus(store_.DeleteTask(request->task_id())));
  return reactor;
}

grpc::ServerUnaryReactor* LocalService::ListTasks(grpc::CallbackServerContext* context,
                                                  const dv1::ListTasksRequest* /*request*/,
                                                  dv1::ListTasksResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto tasks = store_.ListTasks();
  if (!tasks.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(tasks.status()));
    return reactor;
  }
  for (const auto& meta : *tasks) {
    auto pieces = store_.ListPieces(meta.task_id);
    FillTaskInfo(meta, pieces.ok() ? static_cast<uint32_t>(pieces->size()) : 0,
                 *response->add_tasks());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace feilong::daemon
