// Download::Impl, the conductor's state and steps, shared by the files that
// implement it: download.cc (the event loop, pieces, the outcome) and
// download_scheduling.cc (the conversation with the scheduler and the move
// to the origin). Internal to the daemon.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "daemon/download/download.h"
#include "daemon/download/download_events.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/parent_demand.h"
#include "daemon/download/parent_watcher.h"
#include "daemon/download/scheduler_connection.h"
#include "source/source_client.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

// The metric label and log word for a back-to-source reason.
inline const char* ReasonLabel(common::v1::BackToSourceReason reason) {
  switch (reason) {
    case common::v1::BACK_TO_SOURCE_REASON_NO_SCHEDULER:
      return "no_scheduler";
    case common::v1::BACK_TO_SOURCE_REASON_NO_PARENT:
      return "no_parent";
    case common::v1::BACK_TO_SOURCE_REASON_PARENT_FAILURES:
      return "parent_failures";
    case common::v1::BACK_TO_SOURCE_REASON_SEED:
      return "seed";
    case common::v1::BACK_TO_SOURCE_REASON_CAP_REACHED:
      return "cap_reached";
    default:
      return "none";
  }
}

class Download::Impl {
 public:
  Impl(DownloadDeps& deps, DownloadRequestOptions& options);

  std::shared_ptr<conductor::Mailbox> mailbox() { return mailbox_; }
  void Run(std::stop_token stop, const std::function<void()>& close_door);

 private:
  struct Parent {
    std::string peer_id;
    std::string ip;
    uint16_t piece_port = 0;
    std::string gate_key;  // "ip:piece_port", its HostGate key
    std::vector<bool> has;
    uint32_t in_flight = 0;
    uint32_t failures = 0;
    // Answered busy: not asked again before this.
    std::chrono::steady_clock::time_point busy_until{};
    // Pieces it would not send us, and until when we do not ask again.
    std::map<uint32_t, std::chrono::steady_clock::time_point> refused;
    std::unique_ptr<ParentWatcher> watcher;
  };

  // setup and scheduler
  void Begin();
  void ConnectScheduler();
  void Send(const scheduler::v1::AnnouncePeerRequest& request);
  void OnSchedulerMessage(const scheduler::v1::AnnouncePeerResponse& message);
  void OnDecision(const scheduler::v1::ScheduleDecision& decision);
  // Takes the grant and the grant key of a private task from a decision.
  void AdoptAccess(const scheduler::v1::ScheduleDecision& decision);
  void RequestMoreParents(bool after_failure);
  void GoBackToSource(common::v1::BackToSourceReason reason);
  Status LearnGeometry(uint64_t content_length, uint32_t piece_length);

  // pieces
  void Handle(conductor::Event& event);
  void OnPieceResult(conductor::PieceResult& result);
  void OnParentBusy(const conductor::PieceResult& result);
  // A random wait in [backoff, 2 * backoff].
  std::chrono::steady_clock::duration BusyBackoff();
  void OnProbeResult(const conductor::ProbeResult& result);
  // False if the candidate is this peer, blocked or already a parent.
  bool AddParent(const scheduler::v1::CandidateParent& candidate);
  void DropParent(const std::string& parent_id, bool block);
  uint32_t UsableParents() const;
  // True if a usable parent holds a piece this download still needs.
  bool ParentsHaveMissingPieces() const;
  void Dispatch();
  void SubmitParentFetch(uint32_t number, Parent& parent, std::unique_ptr<HostGate::Pass> pass);
  // Picks and submits origin pieces while the download's and the origin
  // host's limits allow.
  void DispatchToOrigin();
  // Pieces [first, first + count) in one origin request.
  void SubmitOriginFetch(uint32_t first, uint32_t count, std::unique_ptr<HostGate::Pass> pass);
  // Transfers in flight: parent pieces plus origin requests (a request
  // covering several pieces is one transfer).
  uint32_t Transfers() const;
  ParentDemand Demand() const;
  // A failed attempt at piece `number` from the origin: schedules a retry
  // after a jittered backoff, or ends the download once attempts run out.
  void OnOriginPieceFailure(uint32_t number, const Status& status);
  void SubmitProbe();
  void OnProbeFailure(const Status& status);
  void SubmitWholeBodyFetch();
  source::SourceRequest OriginRequest() const;
  void CheckStall();

  // ending
  void Finish(Status status);
  // OK unless the spec names a whole-file digest (an OCI blob, flget
  // --digest) that the whole content does not match: Corruption then, and
  // the task is removed from the store when the download ends.
  Status VerifyContentDigest();
  void ServeWaiter(DownloadWaiter& waiter);
  void NotifyAll();
  DownloadProgress Snapshot() const;

  DownloadDeps& deps_;
  DownloadRequestOptions& options_;
  std::shared_ptr<conductor::Mailbox> mailbox_;
  std::string peer_id_;
  std::vector<DownloadWaiter> waiters_;

  std::unique_ptr<SchedulerConnection> scheduler_;
  size_t scheduler_reconnects_ = 0;
  bool first_decision_seen_ = false;
  bool reschedule_pending_ = false;
  uint32_t reschedules_ = 0;
  std::chrono::steady_clock::time_point last_more_parents_request_{};
  // Since when the parents have kept fewer than half of concurrent_pieces
  // busy (they hold nothing we lack, or answer busy); unset while fed.
  std::optional<std::chrono::steady_clock::time_point> underfed_since_;

  bool geometry_known_ = false;
  storage::TaskMeta meta_;
  std::unique_ptr<storage::TaskPin> pin_;
  std::vector<bool> held_;
  std::vector<bool> in_flight_;
  std::vector<uint32_t> origin_attempts_;
  // When a failed origin piece may be tried again.
  std::vector<std::chrono::steady_clock::time_point> origin_retry_at_;
  std::vector<std::optional<Sha256Digest>> digests_;
  uint32_t held_count_ = 0;
  uint32_t in_flight_count_ = 0;
  // Origin requests in flight (each covers one or more pieces), the pieces
  // they cover, and the last piece of each (its result ends the request).
  uint32_t origin_requests_ = 0;
  uint32_t origin_pieces_ = 0;
  std::vector<bool> origin_span_end_;

  // Private tasks (access/grant.h): our grant for parents, the key our
  // piece server checks children's grants with.
  bool private_task_ = false;
  std::string grant_;
  std::string grant_key_;

  std::map<std::string, Parent> parents_;
  std::set<std::string> blocked_parents_;

  bool origin_mode_ = false;
  std::string origin_host_;  // HostGate key of the origin
  bool probing_ = false;
  bool probe_wanted_ = false;  // a probe waits for its retry time or a slot
  uint32_t probe_attempts_ = 0;
  std::chrono::steady_clock::time_point probe_retry_at_{};
  std::mt19937_64 rng_{std::random_device{}()};  // backoff jitter
  // This download's tie-break in the piece picker (odd, so never 0).
  uint64_t picker_spread_ = 0;
  bool whole_body_mode_ = false;
  common::v1::BackToSourceReason reason_ = common::v1::BACK_TO_SOURCE_REASON_NONE;

  uint64_t completed_length_ = 0;
  uint64_t from_cache_ = 0;
  uint64_t from_peers_ = 0;
  uint64_t from_origin_ = 0;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
  uint64_t bytes_seen_ = 0;  // mailbox_->bytes_received at the last stall check

  bool done_ = false;
  Status final_status_;
  // The whole content failed the spec's digest: removed from the store
  // once the download ended (and its pin is gone).
  bool content_corrupt_ = false;
};

}  // namespace feilong::daemon
