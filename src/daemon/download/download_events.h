// The events a Download's conductor handles, and the mailbox through which
// transfer jobs, stream readers and gRPC handlers post them to its strand.
// Internal to the daemon's download code.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "daemon/download/download.h"
#include "daemon/download/piece_client.h"
#include "feilong/scheduler/v1/scheduler.pb.h"
#include "storage/piece_store.h"

namespace feilong::daemon {
class SchedulerStream;
}

namespace feilong::daemon::conductor {

// Scheduler events carry the generation of the connection they come from:
// a download that reconnected ignores what its old stream still says.
struct SchedulerOpened {
  uint64_t generation = 0;
  Status status;
  std::shared_ptr<SchedulerStream> connection;  // set when status is OK
};
struct SchedulerMessage {
  uint64_t generation = 0;
  scheduler::v1::AnnouncePeerResponse message;
};
struct SchedulerClosed {
  uint64_t generation = 0;
  Status status;
};
struct PieceResult {
  uint32_t number = 0;
  std::string parent_id;  // empty: from the origin
  Status status;
  Sha256Digest digest{};
  uint64_t bytes = 0;
  std::chrono::microseconds cost{0};
  // The parent would not send the piece right now (see PieceFetchResult):
  // not a failure; `status` is Unavailable and nothing was stored.
  PieceFetchResult::Busy busy = PieceFetchResult::Busy::kNo;
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
// The whole content checked against the spec's digest.
struct ContentChecked {
  Status status;
};
// A waiter of the ended download got its output and its last progress.
struct WaiterServed {};
// The origin host's gate, full when we asked, freed a slot (HostGate::WhenFree).
struct OriginSlotFreed {};
using Event = std::variant<SchedulerOpened, SchedulerMessage, SchedulerClosed, PieceResult,
                           ParentPieces, ParentEnded, ProbeResult, WaiterAttached, ContentChecked,
                           WaiterServed, OriginSlotFreed>;

// Shared by the conductor and the transfer jobs it submits, so a job that
// outlives its download still has somewhere to post (the event is then
// dropped).
struct Mailbox {
  // Hands an event to the download's strand. Set once, before any job
  // runs; thread-safe.
  std::function<void(Event)> deliver;
  void Post(Event event) const { deliver(std::move(event)); }
  std::atomic<bool> cancelled{false};
  // Body bytes transfers received so far (stored or not yet): the
  // conductor's measure of progress while pieces are under way.
  std::atomic<uint64_t> bytes_received{0};
};

// Wraps a piece writer for transfers: fails appends once the download is
// cancelled, so transfers stop promptly, and counts what it is given in the
// mailbox's bytes_received. It keeps no bytes of its own: with thousands of
// transfers in flight on the loop, a buffer per transfer is what memory
// would grow with (the store's writer gathers small appends; large ones go
// straight to the file).
class TransferWriter final : public storage::PieceWriter {
 public:
  TransferWriter(storage::PieceWriter& inner, Mailbox& mailbox)
      : inner_(inner), cancelled_(mailbox.cancelled), received_(mailbox.bytes_received) {}

  Status Append(std::span<const uint8_t> data) override {
    if (cancelled_.load()) {
      return Status::Cancelled("download cancelled");
    }
    received_.fetch_add(data.size(), std::memory_order_relaxed);
    return inner_.Append(data);
  }
  uint64_t written() const override { return inner_.written(); }
  Result<Sha256Digest> Commit(const std::optional<Sha256Digest>& expected) override {
    return inner_.Commit(expected);
  }

 private:
  storage::PieceWriter& inner_;
  const std::atomic<bool>& cancelled_;
  std::atomic<uint64_t>& received_;
};

}  // namespace feilong::daemon::conductor
