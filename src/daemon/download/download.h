// Download: the conductor of one task's download on this peer.
//
// It owns every piece of the download's state (parents, pieces held and in
// flight, digests, where bytes came from) and changes it only on its own
// thread, in Run(), by processing events: scheduler messages, parent piece
// availability, piece transfer results (from the TransferPool), waiters
// attaching. See docs/ARCHITECTURE.md, "The download path".
//
// Degradation: with no scheduler, no parent, or parents failing beyond
// `max_reschedules`, it fetches the missing pieces from the origin (unless
// back-to-source is disabled), so a download does not fail while the origin
// works. Every outcome records where its bytes came from and, when any came
// from the origin, why.
//
// Thread rule: Attach and Cancel are thread-safe; Run is called once, on the
// thread that owns the download.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "common/digest.h"
#include "common/status.h"
#include "daemon/caller.h"
#include "feilong/common/v1/common.pb.h"
#include "feilong/scheduler/v1/scheduler.pb.h"

namespace feilong::storage {
class PieceStore;
}

namespace grpc {
class ChannelCredentials;
}

namespace feilong::daemon {

class TransferPool;
class PieceHub;
class HostGate;
class SchedulerChannels;
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
  // Called on the download's thread; must not block.
  std::function<void(const DownloadProgress&)> on_progress;
};

struct DownloadDeps {
  storage::PieceStore& store;
  TransferPool& pool;
  PieceHub& hub;
  SchedulerChannels& channels;
  const DaemonConfig& config;
  DaemonMetrics& metrics;
  // Daemon-wide guards: per origin host (cap + circuit breaker) and per
  // parent host (circuit breaker).
  HostGate& origin_gate;
  HostGate& parent_gate;
  // This host as announced to the scheduler.
  std::function<scheduler::v1::Host()> host_info;
  // For channels to parents' peer API (rpc/tls_credentials.h).
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;
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

  // Adds a waiter. False if the download already ended (start a new one).
  bool Attach(DownloadWaiter waiter);
  // Asks Run to stop soon; waiters get Cancelled.
  void Cancel();
  // Runs the download to its end. REQUIRES: called once.
  void Run(std::stop_token stop);

  const std::string& task_id() const { return options_.task_id; }
  // The request was private (the scheduler may make it so later; the store
  // then records it).
  bool private_task() const { return options_.private_task; }
  bool ended() const { return ended_.load(); }

 private:
  class Impl;
  DownloadDeps deps_;
  DownloadRequestOptions options_;
  std::unique_ptr<Impl> impl_;
  std::mutex attach_mutex_;
  bool accepting_ = true;
  std::atomic<bool> ended_{false};
};

}  // namespace feilong::daemon
