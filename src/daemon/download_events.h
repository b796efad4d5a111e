// The events a Download's conductor processes, and the mailbox through
// which transfer jobs, stream readers and gRPC handlers post them. Internal
// to the daemon's download code.
#pragma once

#include <atomic>
#include <chrono>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "daemon/download.h"
#include "daemon/event_queue.h"
#include "feilong/scheduler/v1/scheduler.pb.h"
#include "storage/piece_store.h"

namespace feilong::daemon::conductor {

struct SchedulerMessage {
  scheduler::v1::AnnouncePeerResponse message;
};
struct SchedulerClosed {
  Status status;
};
struct PieceResult {
  uint32_t number = 0;
  std::string parent_id;  // empty: from the origin
  Status status;
  Sha256Digest digest{};
  uint64_t bytes = 0;
  std::chrono::microseconds cost{0};
};
struct ParentPieces {
  std::string parent_id;
  std::vector<uint32_t> numbers;
};
struct ParentEnded {
  std::string parent_id;
  Status status;
};
struct ProbeResult {
  Status status;
  uint64_t content_length = 0;
  bool range_supported = true;
};
struct WaiterAttached {
  DownloadWaiter waiter;
};
using Event = std::variant<SchedulerMessage, SchedulerClosed, PieceResult, ParentPieces,
                           ParentEnded, ProbeResult, WaiterAttached>;

// Shared by the conductor and the transfer jobs it submits, so a job that
// outlives its download still has somewhere to post.
struct Mailbox {
  EventQueue<Event> queue;
  std::atomic<bool> cancelled{false};
};

// Fails writes once the download is cancelled, so transfers stop promptly.
class CancellableWriter final : public storage::PieceWriter {
 public:
  CancellableWriter(storage::PieceWriter& inner, const std::atomic<bool>& cancelled)
      : inner_(inner), cancelled_(cancelled) {}
  Status Append(std::span<const uint8_t> data) override {
    if (cancelled_.load()) {
      return Status::Cancelled("download cancelled");
    }
    return inner_.Append(data);
  }
  uint64_t written() const override { return inner_.written(); }
  Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) override {
    return inner_.Commit(expected);
  }

 private:
  storage::PieceWriter& inner_;
  const std::atomic<bool>& cancelled_;
};

}  // namespace feilong::daemon::conductor
