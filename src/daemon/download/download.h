// Download: the conductor of one task's download on this peer.
//
// It owns every piece of the download's state (parents, pieces held and in
// flight, digests, where bytes came from) and changes it only on its strand
// (common/strand.h), by handling events: scheduler messages, parent piece
// availability, piece transfer results (from the Transfers), waiters
// attaching, and its timers (deadline; the next moment a backoff, a retry or
// the stall check is due). No thread is its own: thousands of downloads
// share the loop's few threads. See docs/ARCHITECTURE.md, "The download
// path".
//
// Degradation: with no scheduler, no parent, or parents failing beyond
// `max_reschedules`, it fetches the missing pieces from the origin (unless
// back-to-source is disabled), so a download does not fail while the origin
// works. Every outcome records where its bytes came from and, when any came
// from the origin, why.
//
// Thread rule: every method is thread-safe. Work that blocks (hashing the
// whole content, writing an output) runs on the BlockingPool, never on the
// strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/status.h"
#include "common/strand.h"
#include "daemon/caller.h"
#include "feilong/common/v1/common.pb.h"
#include "feilong/scheduler/v1/scheduler.pb.h"

namespace feilong::storage {
class PieceStore;
}

namespace feilong::daemon {

class PieceHub;
class HostGate;
class TransferBudget;
class SchedulerLink;
class ParentFeed;
namespace conductor {
class Transfers;
}
struct DaemonConfig;
struct DaemonMetrics;

// A snapshot of a download, sent to waiters as it progresses.
struct DownloadProgress {
  std::string task_id;
  uint64_t content_length = 0;
  bool content_length_known = false;
  uint64_t completed_length = 0;
  uint64_t bytes_from_cache = 0;
  uint64_t bytes_from_peers = 0;
  uint64_t bytes_from_origin = 0;
  common::v1::BackToSourceReason back_to_source_reason = common::v1::BACK_TO_SOURCE_REASON_NONE;
  uint32_t parent_count = 0;
  bool done = false;
  Status status;  // meaningful when done
};

// Someone waiting for the download: gets progress and, at the end, the
// output written to `output_path` (if not empty) with the rights of
// `caller` (if set; see output.h).
struct DownloadWaiter {
  std::string output_path;
  std::optional<Caller> caller;
  // Called on the download's strand, or for the last (done) call on a
  // pool thread once the output is in place; must not block.
  std::function<void(const DownloadProgress&)> on_progress;
};

struct DownloadDeps {
  storage::PieceStore& store;
  // The seams (transfers.h, scheduler_link.h, parent_feed.h): gRPC and the
  // event loop in the daemon, fakes in a test, a simulated network in
  // the in-process swarm.
  conductor::Transfers& transfers;
  SchedulerLink& scheduler_link;
  ParentFeed& parent_feed;
  PieceHub& hub;
  const DaemonConfig& config;
  DaemonMetrics& metrics;
  // Daemon-wide guards: per origin host (cap + circuit breaker) and per
  // parent host (circuit breaker).
  HostGate& origin_gate;
  HostGate& parent_gate;
  // Piece transfers of all downloads together (transfer_budget.h).
  TransferBudget& transfer_budget;
  // This host as announced to the scheduler.
  std::function<scheduler::v1::Host()> host_info;
  // Where downloads live: each gets a strand of its own.
  StrandFactory& strands;
  // Seeds each download's randomness (peer id, jitter, picker spread);
  // tests pass a fixed sequence to replay a run.
  std::function<uint64_t()> random_seed;
};

struct DownloadRequestOptions {
  std::string task_id;
  common::v1::TaskSpec spec;
  // The request carries credentials: the task is private (access/grant.h).
  bool private_task = false;
  // The caller read the origin with this request before (see ProveAccess).
  bool access_proven = false;
  bool allow_back_to_source = true;
  std::chrono::milliseconds timeout{3600 * 1000};
};

class Download {
 public:
  Download(DownloadDeps deps, DownloadRequestOptions options);
  ~Download();
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;

  // Adds a waiter. False once the download is ending (start a new one).
  bool Attach(DownloadWaiter waiter);
  // Ends the download soon; waiters get Cancelled.
  void Cancel();
  // Starts the download (waiters attached before are served too);
  // `on_ended` runs on its strand once it has ended: every waiter served,
  // nothing of it running. REQUIRES: called once, before Cancel.
  void Start(std::function<void()> on_ended);

  const std::string& task_id() const { return task_id_; }
  // The request was private (the scheduler may make it so later; the store
  // then records it).
  bool private_task() const { return private_task_; }
  bool ended() const;

  class Impl;

 private:
  std::string task_id_;
  bool private_task_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace feilong::daemon
