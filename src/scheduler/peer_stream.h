// PeerStream: the server reactor of one AnnouncePeer stream (internal to
// scheduler_service.cc; see scheduler_service.h for the contract).
//
// Reads run one at a time on gRPC threads and are handed to the service.
// Writes go through an outbound queue: at most one write is in flight, the
// next starts when it completes, and reads continue meanwhile. Close() ends
// the stream once queued writes have drained (or failed). The object deletes
// itself in OnDone after telling the service.
//
// Thread rule: Enqueue and Close are thread-safe; the service calls them
// with its streams mutex held (lock order: service, then stream). The On*
// reactions are called by gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <mutex>

#include "feilong/scheduler/v1/scheduler.grpc.pb.h"
#include "scheduler/caller.h"
#include "scheduler/scheduler_state.h"

namespace feilong::scheduler {

class SchedulerService;

class PeerStream final
    : public grpc::ServerBidiReactor<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse> {
 public:
  // Starts reading; with `refuse`, ends the stream at once with UNAVAILABLE.
  // `caller`: who opened the stream (SchedulerService, "Roles").
  PeerStream(SchedulerService* service, SessionId session, bool refuse, Caller caller);

  // Queues a message; dropped once the stream is closing.
  void Enqueue(v1::AnnouncePeerResponse response);
  // Ends the stream with `status` after the queued writes. Idempotent.
  void Close(const grpc::Status& status);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  ~PeerStream() override = default;

  SchedulerService* const service_;
  const SessionId session_;
  const Caller caller_;
  v1::AnnouncePeerRequest request_;  // touched by read reactions only
  bool registered_ = false;          // touched by read reactions only

  std::mutex mutex_;
  std::deque<v1::AnnouncePeerResponse> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool closing_ = false;   // Close requested: no new messages
  bool finished_ = false;  // Finish called
  grpc::Status final_status_;
};

}  // namespace feilong::scheduler
