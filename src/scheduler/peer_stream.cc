#include "scheduler/peer_stream.h"

#include <utility>

#include "scheduler/scheduler_service.h"

namespace feilong::scheduler {

PeerStream::PeerStream(SchedulerService* service, SessionId session, bool refuse, Caller caller)
    : service_(service), session_(session), caller_(std::move(caller)) {
  if (refuse) {
    std::lock_guard lock(mutex_);
    closing_ = true;
    finished_ = true;
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down"));
    return;
  }
  StartRead(&request_);
}

void PeerStream::Enqueue(v1::AnnouncePeerResponse response) {
  std::lock_guard lock(mutex_);
  if (closing_ || finished_) {
    return;
  }
  queue_.push_back(std::move(response));
  if (!writing_) {
    writing_ = true;
    StartWrite(&queue_.front());
  }
}

void PeerStream::Close(const grpc::Status& status) {
  std::lock_guard lock(mutex_);
  if (closing_ || finished_) {
    return;
  }
  closing_ = true;
  final_status_ = status;
  if (!writing_) {
    finished_ = true;
    Finish(final_status_);
  }
}

void PeerStream::OnReadDone(bool ok) {
  if (!ok) {
    // The peer ended the stream, or it broke, or Finish was called.
    service_->OnStreamEnded(session_);
    Close(grpc::Status::OK);
    return;
  }
  grpc::Status status = service_->OnRequest(session_, registered_, caller_, request_);
  if (!status.ok()) {
    service_->OnStreamEnded(session_);
    Close(status);
    return;
  }
  registered_ = true;
  request_.Clear();
  std::lock_guard lock(mutex_);
  if (!closing_ && !finished_) {
    StartRead(&request_);
  }
}

void PeerStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  queue_.pop_front();
  if (!ok) {
    // The stream is broken; the pending read fails too and ends the session.
    queue_.clear();
    writing_ = false;
    if (!finished_) {
      if (!closing_) {
        closing_ = true;
        final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
      }
      finished_ = true;
      Finish(final_status_);
    }
    return;
  }
  if (!queue_.empty()) {
    StartWrite(&queue_.front());
    return;
  }
  writing_ = false;
  if (closing_ && !finished_) {
    finished_ = true;
    Finish(final_status_);
  }
}

void PeerStream::OnDone() {
  service_->OnStreamEnded(session_);
  service_->Detach(session_);
  delete this;
}

}  // namespace feilong::scheduler
