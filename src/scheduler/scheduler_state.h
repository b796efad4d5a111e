// SchedulerState: every host, task and peer the scheduler knows, in memory,
// and the rules that decide where each peer fetches from.
//
// The service layer feeds it what peers and hosts say and executes the
// Actions it returns (messages to peer streams, seed triggers, log lines)
// outside its lock. Time comes from the injected Clock; Tick() is called
// periodically by the owner.
//
// Decision rules, for a peer without a decision (after Register, after a
// Reschedule, and on every re-evaluation while it waits):
//   1. The task's content length is known and 0: KIND_EMPTY.
//   2. Candidate parents exist (see parent_selector.h; the peer's blocked
//      and failed parents excluded): KIND_NORMAL with up to
//      candidate_parent_limit parents, the content and piece length, then
//      one PieceDigests message with every digest known so far.
//   3. The peer runs on a seed host: KIND_BACK_TO_SOURCE, reason SEED. Seed
//      peers are never refused by the cap but count toward it.
//   4. No seed peer of the task is alive and no trigger is pending: trigger
//      one live seed host (with a peer port), chosen by rendezvous hashing of
//      the task id over seed hosts that have not failed this task.
//   5. While a parent may still appear (a seed trigger is pending, or a peer
//      of the task is kept out only because it does not know the content
//      length yet or has no free upload slot) and the peer has waited less
//      than schedule_wait: it keeps waiting.
//   6. Otherwise, if fewer than max_back_to_source_peers_per_task peers of the
//      task are back to source: KIND_BACK_TO_SOURCE, reason NO_PARENT (at
//      once when nothing could appear, else after schedule_wait).
//   7. Otherwise it keeps waiting until max_schedule_wait from the start of
//      its wait, then KIND_BACK_TO_SOURCE, reason CAP_REACHED.
// Waiting peers are re-evaluated at once when the task's content length
// becomes known or a seed trigger fails, and on every Tick when something in
// the task or any host changed or a wait deadline passed.
//
// Reschedule: the blocked ids join the peer's excluded set (as do parents
// named in PieceFailed). A running or back-to-source peer then gets
// KIND_NORMAL listing new parents first (not excluded, not already its
// parents), then its current parents that are not excluded (at most twice
// candidate_parent_limit in all); with no parent at all, it waits and is
// decided by the rules above. So a Reschedule with no blocked id from a
// running peer is a request for more parents, one that blocks parents is
// answered without them, and neither demotes a peer that still has a usable
// parent. A Reschedule from a waiting peer updates its excluded set and
// re-evaluates it; the one decision it gets answers both.
//
// Trust: the content length (ContentLengthKnown) and piece digests
// (PieceFinished without parent, i.e. fetched from the origin) are taken
// only from a peer this scheduler sent to the origin for the task (answered
// KIND_BACK_TO_SOURCE, seeds included), or that went there on its own
// (BackToSourceStarted) when the rules would have sent it, judged when it
// starts and again when it reports: no seed peer of
// the task alive, no seed trigger pending, fewer trusted peers than
// max_back_to_source_peers_per_task (a seed that died, a peer whose parents all failed, a scheduler
// taking over a download). The same reports from any other peer
// are not recorded: they are counted (untrusted_reports) and returned as
// warnings; a length that matches the recorded one still tells the
// scheduler that the peer knows it. The first trusted SHA-256 of a piece is
// recorded and pushed to the task's running and back-to-source peers.
//
// Private tasks: a Register with private_task makes the task private for
// good (the request carried credentials). Only a peer that proved access
// (Register.access_proven) or runs on a seed host may read it from other
// peers: such a peer gets, with every KIND_NORMAL, a grant signed by this
// scheduler for its host's address (access/grant.h), and a GrantRenewed
// before half of the grant's ttl has passed; every decision of a private
// task carries the scheduler's public key so the peer can check the grants
// of its own children. Any other peer of a private task is sent to the
// origin at once, with its own request (which then fails if it has no
// access); it is given no parent and no digest, is never trusted, and is
// never offered as a parent itself.
//
// Quarantine: a trusted report that disagrees with the recorded length or a
// recorded digest (two peers read different bytes from the origin, or one
// lies) quarantines the task: recorded digests are dropped, no further
// digest is recorded or pushed, and no peer of the task is offered as a
// parent any more, so every peer that still needs pieces ends up at the
// origin through the rules below, verifying whole-file digests where it has
// them. It is counted, logged, and returned as a DigestConflict. A
// quarantine lasts as long as the task (until its last peer is gone).
//
// Lifetime: a peer lives while its stream is open. A stream that ends
// without DownloadFinished removes its peer. A peer that succeeded and then
// closes its stream stays a parent (detached) for finished_peer_ttl, unless
// its host leaves or expires first. LeaveHost removes a host and all its
// peers. A host not announced for host_ttl and with no open stream is dropped
// on Tick with its detached peers. A seed peer that fails or goes away before
// succeeding marks its host failed for the task. A task with no peer and no
// pending trigger is dropped on Tick.
//
// Host ownership: with mutual TLS the service passes each call's
// certificate subject as `owner`. The first owner to announce or register a
// host id holds it while the host is known; another owner's AnnounceHost,
// Register or LeaveHost for that id is PermissionDenied, so one peer's
// certificate cannot speak for, or remove, another peer's host. The hold
// ends when the host leaves or expires. Without TLS every owner is "" and
// nothing is checked.
//
// Thread rule: thread-safe; every method takes one internal mutex and never
// blocks or performs I/O while holding it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "access/grant.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "feilong/scheduler/v1/scheduler.pb.h"
#include "scheduler/parent_selector.h"
#include "scheduler/scheduler_config.h"

namespace feilong::scheduler {

// Identifies one AnnouncePeer stream; chosen by the caller, unique per stream,
// never 0 (0 marks a detached peer).
using SessionId = uint64_t;

// A message for the peer on stream `session`.
struct OutboundMessage {
  SessionId session = 0;
  std::string task_id;  // for logs
  std::string peer_id;
  v1::AnnouncePeerResponse response;
};

// Ask the seed host `host_id` at `address` ("ip:peer_port") to download a
// task; report the outcome with SeedTriggerDone.
struct SeedTrigger {
  std::string task_id;
  std::string host_id;
  std::string address;
  common::v1::TaskSpec spec;
};

struct DigestConflict {
  std::string task_id;
  uint32_t piece = 0;
  std::string peer_id;  // who reported the conflicting digest
};

// What the caller must do after a state change, in order.
struct Actions {
  std::vector<OutboundMessage> messages;  // in order for each session
  std::vector<SeedTrigger> seed_triggers;
  std::vector<DigestConflict> digest_conflicts;
  std::vector<std::string> quarantined;  // task ids quarantined by this change
  uint32_t untrusted_reports = 0;        // reports ignored (see Trust)
  std::vector<std::string> warnings;     // log lines (event key=value) for warn level

  bool empty() const {
    return messages.empty() && seed_triggers.empty() && digest_conflicts.empty() &&
           quarantined.empty() && untrusted_reports == 0 && warnings.empty();
  }
};

struct StateCounts {
  size_t hosts = 0;
  size_t tasks = 0;
  size_t peers = 0;
};

class SchedulerState {
 public:
  // `clock` must outlive the state; `signer` signs grants for private tasks.
  SchedulerState(const SchedulerConfig& config, Clock& clock,
                 std::shared_ptr<const access::GrantSigner> signer);
  SchedulerState(const SchedulerState&) = delete;
  SchedulerState& operator=(const SchedulerState&) = delete;

  // Records a host's identity and load. InvalidArgument when the id is
  // empty; PermissionDenied when another owner holds it (Host ownership).
  Status AnnounceHost(const v1::Host& host, std::string_view owner = {});
  // Removes the host and its peers. Unknown hosts are ignored;
  // PermissionDenied when another owner holds it.
  Result<Actions> LeaveHost(std::string_view host_id, std::string_view owner = {});

  // Registers the peer of stream `session` and decides for it. A peer id
  // already registered for the task replaces the old one (whose stream is
  // then ignored). InvalidArgument when ids are missing, the session is
  // already registered or a held piece is out of range; PermissionDenied
  // when another owner holds the host (Host ownership).
  Result<Actions> Register(SessionId session, const v1::Register& registration,
                           std::string_view owner = {});

  // Everything a registered stream sends after Register. Errors:
  // NotFound when the session's peer is gone (host left, replaced);
  // InvalidArgument for a malformed message (bad piece number, digest not
  // 32 bytes, zero piece length, a second Register); FailedPrecondition
  // when the message makes no sense in the peer's phase (ignored).
  Result<Actions> Handle(SessionId session, const v1::AnnouncePeerRequest& request);

  // The stream ended: the peer is removed, or detached if it succeeded (see
  // Lifetime). Unknown sessions are ignored.
  Actions StreamClosed(SessionId session);

  // The outcome of a SeedTrigger. A failure marks the seed failed for the
  // task and re-evaluates the task's waiting peers at once.
  Actions SeedTriggerDone(std::string_view task_id, std::string_view host_id, const Status& status);

  // Re-evaluates waiting peers, times out seed triggers, drops expired
  // detached peers, empty tasks and expired hosts.
  Actions Tick();

  // NotFound for an unknown task.
  Result<v1::StatTaskResponse> StatTask(std::string_view task_id) const;
  // peers: peers with an open stream.
  StateCounts Counts() const;
  // Conflicting origin digests seen since start.
  uint64_t digest_conflicts() const;
  // Whether the task is quarantined; NotFound for an unknown task.
  Result<bool> IsQuarantined(std::string_view task_id) const;
  // The phase of a peer of a task; NotFound when there is no such peer.
  Result<PeerPhase> PhaseOf(std::string_view task_id, std::string_view peer_id) const;
  // Whether the host is known.
  bool HasHost(std::string_view host_id) const;

 private:
  enum class TriggerState : uint8_t { kNone, kInFlight, kAccepted };

  struct Host {
    v1::Host info;
    HostProfile profile;
    Clock::TimePoint last_seen;
    uint32_t peer_count = 0;    // peers on this host, detached ones included
    uint32_t live_streams = 0;  // peers on this host with an open stream
    std::string owner;          // certificate subject that holds the id; "" without TLS
  };

  struct Peer {
    std::string id;
    SessionId session = 0;  // 0 once detached
    Clock::TimePoint detached_at;
    Host* host = nullptr;  // stable: a host outlives its peers
    bool seed = false;
    PeerPhase phase = PeerPhase::kWaiting;
    bool knows_content_length = false;
    bool sent_to_origin = false;  // answered KIND_BACK_TO_SOURCE: its reports are trusted
    bool access_proven = false;   // Register.access_proven
    std::optional<Clock::TimePoint> granted_at;  // when its last grant was signed
    std::vector<bool> pieces;
    uint32_t finished_pieces = 0;
    std::vector<std::string> parents;  // from the last KIND_NORMAL
    uint32_t children = 0;
    std::unordered_set<std::string> excluded;  // blocked or failed parents
    Clock::TimePoint wait_started;
    Clock::TimePoint evaluated_at;
    uint64_t evaluated_version = 0;
  };

  struct Task {
    std::string id;
    common::v1::TaskSpec spec;
    bool content_length_known = false;
    uint64_t content_length = 0;
    uint32_t piece_length = 0;
    std::map<uint32_t, std::string> digests;  // piece -> raw SHA-256
    std::map<std::string, Peer> peers;        // by peer id
    uint32_t back_to_source = 0;              // peers in kBackToSource
    std::set<std::string> failed_seeds;       // host ids
    TriggerState trigger = TriggerState::kNone;
    std::string trigger_host;
    Clock::TimePoint trigger_at;
    bool quarantined = false;
    bool private_task = false;  // see Private tasks
    uint64_t version = 1;       // bumped on every change that may affect decisions
  };

  struct SessionRef {
    std::string task_id;
    std::string peer_id;
  };

  // Every private method below requires mutex_ held (FL_REQUIRES).
  // PermissionDenied when `host_id` is known and held by another owner.
  Status CheckOwner(const std::string& host_id, std::string_view owner) const FL_REQUIRES(mutex_);
  Host& UpsertHost(const v1::Host& info, bool with_stats, std::string_view owner)
      FL_REQUIRES(mutex_);
  Result<std::pair<Task*, Peer*>> Lookup(SessionId session) FL_REQUIRES(mutex_);
  uint32_t TotalPieces(const Task& task) const FL_REQUIRES(mutex_);
  uint64_t VersionOf(const Task& task) const FL_REQUIRES(mutex_) {
    return task.version + hosts_version_;
  }

  void SetPhase(Task& task, Peer& peer, PeerPhase phase) FL_REQUIRES(mutex_);
  void SetParents(Task& task, Peer& peer, std::vector<std::string> parents) FL_REQUIRES(mutex_);
  void StartWaiting(Task& task, Peer& peer) FL_REQUIRES(mutex_);
  // A removed seed peer that had not succeeded marks its host failed for the
  // task, unless it is being `replaced` by a new stream of the same peer.
  void RemovePeer(Task& task, const std::string& peer_id, bool replaced = false)
      FL_REQUIRES(mutex_);
  void MarkSeedFailed(Task& task, const std::string& host_id) FL_REQUIRES(mutex_);

  struct Selection {
    std::vector<std::string> parents;  // best first
    // Some peer is kept out only for a transient reason (see IsTransient).
    bool parent_may_appear = false;
  };
  // Parents for `peer`; `extra_excluded` may be null.
  Selection SelectFor(const Task& task, const Peer& peer,
                      const std::unordered_set<std::string>* extra_excluded, size_t limit) const
      FL_REQUIRES(mutex_);
  void MaybeTriggerSeed(Task& task, const Peer& requester, Actions& out) FL_REQUIRES(mutex_);
  void Decide(Task& task, Peer& peer, Actions& out) FL_REQUIRES(mutex_);
  void EvaluateWaiting(Task& task, bool force, Actions& out) FL_REQUIRES(mutex_);

  void SendNormal(Task& task, Peer& peer, std::vector<std::string> parents, Actions& out)
      FL_REQUIRES(mutex_);
  void SendBackToSource(Task& task, Peer& peer, common::v1::BackToSourceReason reason, Actions& out)
      FL_REQUIRES(mutex_);
  void SendEmpty(Task& task, Peer& peer, Actions& out) FL_REQUIRES(mutex_);
  void PushDigest(Task& task, const Peer& reporter, uint32_t piece, const std::string& sha256,
                  Actions& out) FL_REQUIRES(mutex_);
  // Whether `peer` may read the task from other peers (see Private tasks).
  bool MayRead(const Task& task, const Peer& peer) const FL_REQUIRES(mutex_) {
    return !task.private_task || peer.seed || peer.access_proven;
  }
  // For a private task: the key in `decision` and, when `with_grant`, a
  // fresh grant for `peer`.
  void AddGrant(const Task& task, Peer& peer, bool with_grant, v1::ScheduleDecision& decision)
      FL_REQUIRES(mutex_);
  // Sends GrantRenewed to peers of private tasks whose grant is half-way
  // through its ttl.
  void RenewGrants(Task& task, Actions& out) FL_REQUIRES(mutex_);

  // Whether reports of `peer` are taken (see Trust); endorses a peer that
  // went to the origin on its own once the rules would send it there.
  bool Trusted(const Task& task, Peer& peer) const FL_REQUIRES(mutex_);
  // Whether the rules would send `peer` to the origin now (see Trust).
  bool WouldSendToOrigin(const Task& task, const Peer& peer) const FL_REQUIRES(mutex_);
  // A report the peer may not make (see Trust): counted and logged.
  void Untrusted(const Task& task, const Peer& peer, std::string_view what, Actions& out)
      FL_REQUIRES(mutex_);
  void Quarantine(Task& task, const Peer& reporter, uint32_t piece, const std::string& why,
                  Actions& out) FL_REQUIRES(mutex_);

  Result<Actions> OnContentLengthKnown(Task& task, Peer& peer, const v1::ContentLengthKnown& m)
      FL_REQUIRES(mutex_);
  Result<Actions> OnPieceFinished(Task& task, Peer& peer, const v1::PieceFinished& m)
      FL_REQUIRES(mutex_);
  Result<Actions> OnPieceFailed(Task& task, Peer& peer, const v1::PieceFailed& m)
      FL_REQUIRES(mutex_);
  Result<Actions> OnReschedule(Task& task, Peer& peer, const v1::Reschedule& m) FL_REQUIRES(mutex_);
  Result<Actions> OnBackToSourceStarted(Task& task, Peer& peer) FL_REQUIRES(mutex_);
  Result<Actions> OnDownloadFinished(Task& task, Peer& peer) FL_REQUIRES(mutex_);
  Result<Actions> OnDownloadFailed(Task& task, Peer& peer, const v1::DownloadFailed& m)
      FL_REQUIRES(mutex_);

  const SchedulerConfig config_;
  Clock& clock_;
  const std::shared_ptr<const access::GrantSigner> signer_;

  mutable Mutex mutex_;
  // Node-based: Host* stay valid.
  std::unordered_map<std::string, Host> hosts_ FL_GUARDED_BY(mutex_);
  std::map<std::string, Task> tasks_ FL_GUARDED_BY(mutex_);
  std::unordered_map<SessionId, SessionRef> sessions_ FL_GUARDED_BY(mutex_);
  uint64_t hosts_version_ FL_GUARDED_BY(mutex_) = 0;
  uint64_t digest_conflicts_ FL_GUARDED_BY(mutex_) = 0;
};

// The peer-service address of a host: "ip:port", "[ip]:port" for IPv6.
std::string PeerServiceAddress(const v1::Host& host);

// Rendezvous weight of (task, host): the seed with the highest weight is
// asked first. Stable across processes.
uint64_t RendezvousWeight(std::string_view task_id, std::string_view host_id);

}  // namespace feilong::scheduler
