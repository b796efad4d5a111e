// Download::Impl, the conductor's state and steps, shared by the files that
// implement it: download.cc (events, timers, pieces, the outcome),
// download_scheduling.cc (the conversation with the scheduler) and
// download_origin.cc (the origin). Every member function runs on the
// download's strand. Internal to the daemon.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/strand.h"
#include "daemon/download/download.h"
#include "daemon/download/download_events.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/parent_demand.h"
#include "daemon/download/parent_feed.h"
#include "daemon/download/scheduler_link.h"
#include "daemon/download/transfer_budget.h"
#include "daemon/download/transfers.h"
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

class Download::Impl : public std::enable_shared_from_this<Download::Impl> {
 public:
  Impl(DownloadDeps deps, DownloadRequestOptions options);
  ~Impl();

  // Called once, right after construction (needs weak_from_this): from
  // then on, events and timers reach the strand.
  void Init();
  // Called once, after Init: begins the download. Waiters attached before
  // are served by it too.
  void Start(std::function<void()> on_ended);
  // Thread-safe (see Download).
  bool Attach(DownloadWaiter waiter);
  void Cancel();
  bool ended() const;

 private:
  using TimePoint = Clock::TimePoint;

  struct Parent {
    std::string peer_id;
    std::string ip;
    uint16_t piece_port = 0;
    std::string gate_key;  // "ip:piece_port", its HostGate key
    std::vector<bool> has;
    uint32_t in_flight = 0;
    uint32_t failures = 0;
    // Answered busy: not asked again before this.
    TimePoint busy_until{};
    // Pieces it would not send us, and until when we do not ask again.
    std::map<uint32_t, TimePoint> refused;
    std::unique_ptr<ParentSubscription> watcher;
  };

  // events and time
  void OnEvent(conductor::Event& event);
  // After every event and timer: dispatch, check for a stall and for the
  // end, and arm the wake timer for the next moment something is due.
  void Step();
  void ArmWake();
  TimePoint Now() const { return strand_->clock().Now(); }

  // setup and scheduler
  void Begin();
  // Asks the link for a scheduler stream (connecting may take up to the
  // connect timeout per scheduler); the download goes on meanwhile.
  void ConnectScheduler();
  void OnSchedulerOpened(conductor::SchedulerOpened& opened);
  void OnSchedulerClosed(const conductor::SchedulerClosed& closed);
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
  void OnProbeResult(const conductor::ProbeResult& result);
  // False if the candidate is this peer, blocked or already a parent.
  bool AddParent(const scheduler::v1::CandidateParent& candidate);
  void DropParent(const std::string& parent_id, bool block);
  uint32_t UsableParents() const;
  // Transfers this download may run now (its share of the daemon's).
  uint32_t TransferLimit() const;
  // True if a usable parent holds a piece this download still needs and
  // can verify (its digest is known).
  bool ParentsHaveMissingPieces() const;
  void Dispatch();
  void SubmitParentFetch(uint32_t number, Parent& parent, std::unique_ptr<HostGate::Pass> pass);
  // Picks and submits origin pieces while the download's and the origin
  // host's limits allow.
  // `verifiable`: pieces whose digest is known; a usable parent holding one
  // gets it, not the origin.
  void DispatchToOrigin(const std::vector<bool>& verifiable);
  // Pieces [first, first + count) in one origin request.
  void SubmitOriginFetch(uint32_t first, uint32_t count, std::unique_ptr<HostGate::Pass> pass);
  // The origin host is at its cap: Step again once one of its slots frees.
  void WaitForOriginSlot();
  // Starved (conductor_rules.h) with the parents it has now.
  bool IsStarved() const;
  // Transfers in flight: parent pieces plus origin requests (a request
  // covering several pieces is one transfer).
  uint32_t TransfersInFlight() const;
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
  // Every piece is held: finishes, after checking the whole content on the
  // pool when the spec names a whole-file digest (an OCI blob, flget
  // --digest). A mismatch fails the download with Corruption, and the task
  // is removed from the store when the download ends.
  void CheckContent();
  void Finish(Status status);
  // Puts the output in place (on the pool) and tells the waiter.
  void ServeWaiter(DownloadWaiter waiter);
  // Ends the download once it is finished, every waiter that attached
  // before the door closed is served, and no output is still being written.
  void MaybeEnd();
  void NotifyAll();
  DownloadProgress Snapshot() const;

  DownloadDeps deps_;
  DownloadRequestOptions options_;
  std::shared_ptr<Strand> strand_;
  std::unique_ptr<StrandTimer> deadline_timer_;
  std::unique_ptr<StrandTimer> wake_timer_;
  std::shared_ptr<conductor::Mailbox> mailbox_;
  std::function<void()> on_ended_;
  // Attach's door: open until the download finishes.
  mutable std::mutex door_mutex_;
  bool accepting_ = true;
  bool ended_ = false;  // guarded by door_mutex_
  std::string peer_id_;
  std::vector<DownloadWaiter> waiters_;

  std::shared_ptr<SchedulerStream> scheduler_;
  // The stream being opened, or 0; events of other generations are stale.
  uint64_t scheduler_generation_ = 0;
  bool scheduler_connecting_ = false;
  // Reports made while the stream was being opened, sent once it is.
  static constexpr size_t kMaxUnsent = 1 << 16;
  std::vector<scheduler::v1::AnnouncePeerRequest> unsent_;
  size_t scheduler_reconnects_ = 0;
  bool first_decision_seen_ = false;
  bool reschedule_pending_ = false;
  uint32_t reschedules_ = 0;
  TimePoint last_more_parents_request_{};
  // When to check whether blocking a parent left the download starved
  // (conductor_rules.h, kStarvedPatience); unset when there is nothing to
  // check.
  std::optional<TimePoint> starved_check_at_;
  // This download's part of the daemon's transfers, from Start to Finish.
  std::unique_ptr<TransferBudget::Share> transfer_share_;
  // Since when the parents have kept fewer than half of its share of
  // transfers busy (they hold nothing we lack, or answer busy); unset while fed.
  std::optional<TimePoint> underfed_since_;

  bool geometry_known_ = false;
  storage::TaskMeta meta_;
  std::unique_ptr<storage::TaskPin> pin_;
  std::vector<bool> held_;
  std::vector<bool> in_flight_;
  std::vector<uint32_t> origin_attempts_;
  // When a failed origin piece may be tried again.
  std::vector<TimePoint> origin_retry_at_;
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
  bool waiting_for_origin_slot_ = false;
  bool probe_wanted_ = false;  // a probe waits for its retry time or a slot
  uint32_t probe_attempts_ = 0;
  TimePoint probe_retry_at_{};
  std::mt19937_64 rng_;  // peer id, backoff jitter, picker spread
  // This download's tie-break in the piece picker (odd, so never 0).
  uint64_t picker_spread_ = 0;
  bool whole_body_mode_ = false;
  common::v1::BackToSourceReason reason_ = common::v1::BACK_TO_SOURCE_REASON_NONE;

  uint64_t completed_length_ = 0;
  uint64_t from_cache_ = 0;
  uint64_t from_peers_ = 0;
  uint64_t from_origin_ = 0;
  TimePoint last_progress_{};
  uint64_t bytes_seen_ = 0;  // mailbox_->bytes_received at the last stall check

  bool done_ = false;
  bool checking_content_ = false;
  Status final_status_;
  // After Finish: the door is closed and every event posted before has been
  // handled; outputs still being written.
  bool drained_ = false;
  uint32_t outputs_in_progress_ = 0;
  // The whole content failed the spec's digest: removed from the store
  // once the download ended (and its pin is gone).
  bool content_corrupt_ = false;
};

}  // namespace feilong::daemon
