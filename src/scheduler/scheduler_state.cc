// SchedulerState: lifecycle, hosts, ticks and the decision rules. The
// handlers of individual stream messages are in scheduler_state_messages.cc.
#include "scheduler/scheduler_state.h"

#include <algorithm>
#include <utility>

namespace feilong::scheduler {

using common::v1::BackToSourceReason;

namespace {

uint64_t Fnv1a(uint64_t hash, std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace

uint64_t RendezvousWeight(std::string_view task_id, std::string_view host_id) {
  uint64_t h = Fnv1a(14695981039346656037ULL, task_id);
  h = Fnv1a(h, std::string_view("\0", 1));
  h = Fnv1a(h, host_id);
  // splitmix64 finalizer: spreads FNV's weak high bits.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string PeerServiceAddress(const v1::Host& host) {
  std::string ip = host.ip();
  if (ip.find(':') != std::string::npos) {
    ip = "[" + ip + "]";
  }
  return ip + ":" + std::to_string(host.peer_port());
}

SchedulerState::SchedulerState(const SchedulerConfig& config, Clock& clock,
                               std::shared_ptr<const access::GrantSigner> signer)
    : config_(config), clock_(clock), signer_(std::move(signer)) {}

// ---------------------------------------------------------------- hosts

Status SchedulerState::CheckOwner(const std::string& host_id, std::string_view owner) const {
  auto it = hosts_.find(host_id);
  if (it == hosts_.end() || it->second.owner == owner) {
    return Status::Ok();
  }
  return Status::PermissionDenied("host " + host_id +
                                  " is held by another certificate (subject \"" + it->second.owner +
                                  "\") until it leaves or expires");
}

SchedulerState::Host& SchedulerState::UpsertHost(const v1::Host& info, bool with_stats,
                                                 std::string_view owner) {
  auto [it, inserted] = hosts_.try_emplace(info.id());
  Host& host = it->second;
  if (inserted) {
    host.owner = owner;
  }
  if (inserted || with_stats) {
    host.info = info;
  } else {
    host.info.set_hostname(info.hostname());
    host.info.set_ip(info.ip());
    host.info.set_piece_port(info.piece_port());
    host.info.set_peer_port(info.peer_port());
    host.info.set_type(info.type());
    host.info.set_idc(info.idc());
    host.info.set_location(info.location());
  }
  HostProfile& p = host.profile;
  p.id = host.info.id();
  p.seed = host.info.type() == v1::HOST_TYPE_SEED;
  p.idc = host.info.idc();
  p.location = host.info.location();
  p.upload_capacity_bps = host.info.upload_capacity_bps();
  p.upload_rate_bps = host.info.upload_rate_bps();
  p.concurrent_uploads = host.info.concurrent_uploads();
  p.max_concurrent_uploads = host.info.max_concurrent_uploads();
  p.upload_slots = host.info.upload_slots();
  host.last_seen = clock_.Now();
  ++hosts_version_;
  return host;
}

Status SchedulerState::AnnounceHost(const v1::Host& host, std::string_view owner) {
  if (host.id().empty()) {
    return Status::InvalidArgument("AnnounceHost: host id is empty");
  }
  MutexLock lock(mutex_);
  FL_RETURN_IF_ERROR(CheckOwner(host.id(), owner));
  UpsertHost(host, /*with_stats=*/true, owner);
  return Status::Ok();
}

Result<Actions> SchedulerState::LeaveHost(std::string_view host_id, std::string_view owner) {
  Actions out;
  MutexLock lock(mutex_);
  auto host_it = hosts_.find(std::string(host_id));
  if (host_it == hosts_.end()) {
    return out;
  }
  FL_RETURN_IF_ERROR(CheckOwner(host_it->first, owner));
  for (auto& [task_id, task] : tasks_) {
    std::vector<std::string> leaving;
    for (const auto& [peer_id, peer] : task.peers) {
      if (peer.host == &host_it->second) {
        leaving.push_back(peer_id);
      }
    }
    bool trigger_lost = task.trigger != TriggerState::kNone && task.trigger_host == host_id;
    if (leaving.empty() && !trigger_lost) {
      continue;
    }
    for (const std::string& peer_id : leaving) {
      RemovePeer(task, peer_id);
    }
    if (trigger_lost) {
      MarkSeedFailed(task, std::string(host_id));
    }
    EvaluateWaiting(task, /*force=*/true, out);
  }
  hosts_.erase(host_it);
  ++hosts_version_;
  return out;
}

bool SchedulerState::HasHost(std::string_view host_id) const {
  MutexLock lock(mutex_);
  return hosts_.contains(std::string(host_id));
}

// ---------------------------------------------------------------- peers

uint32_t SchedulerState::TotalPieces(const Task& task) const {
  if (!task.content_length_known || task.piece_length == 0) {
    return 0;
  }
  return static_cast<uint32_t>((task.content_length + task.piece_length - 1) / task.piece_length);
}

Result<std::pair<SchedulerState::Task*, SchedulerState::Peer*>> SchedulerState::Lookup(
    SessionId session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    return Status::NotFound("stream " + std::to_string(session) + " has no registered peer");
  }
  Task& task = tasks_.at(it->second.task_id);
  Peer& peer = task.peers.at(it->second.peer_id);
  return std::make_pair(&task, &peer);
}

void SchedulerState::SetPhase(Task& task, Peer& peer, PeerPhase phase) {
  if (peer.phase == phase) {
    return;
  }
  if (peer.phase == PeerPhase::kBackToSource) {
    --task.back_to_source;
  }
  if (phase == PeerPhase::kBackToSource) {
    ++task.back_to_source;
  }
  peer.phase = phase;
  ++task.version;
}

void SchedulerState::SetParents(Task& task, Peer& peer, std::vector<std::string> parents) {
  for (const std::string& id : peer.parents) {
    auto it = task.peers.find(id);
    if (it != task.peers.end() && it->second.children > 0) {
      --it->second.children;
    }
  }
  for (const std::string& id : parents) {
    auto it = task.peers.find(id);
    if (it != task.peers.end()) {
      ++it->second.children;
    }
  }
  peer.parents = std::move(parents);
}

void SchedulerState::StartWaiting(Task& task, Peer& peer) {
  SetPhase(task, peer, PeerPhase::kWaiting);
  peer.wait_started = clock_.Now();
  peer.evaluated_version = 0;
}

void SchedulerState::MarkSeedFailed(Task& task, const std::string& host_id) {
  task.failed_seeds.insert(host_id);
  if (task.trigger != TriggerState::kNone && task.trigger_host == host_id) {
    task.trigger = TriggerState::kNone;
    task.trigger_host.clear();
  }
  ++task.version;
}

void SchedulerState::RemovePeer(Task& task, const std::string& peer_id, bool replaced) {
  auto it = task.peers.find(peer_id);
  if (it == task.peers.end()) {
    return;
  }
  Peer& peer = it->second;
  if (peer.seed && !replaced && peer.phase != PeerPhase::kSucceeded) {
    MarkSeedFailed(task, peer.host->info.id());
  }
  SetPhase(task, peer, PeerPhase::kLeft);
  SetParents(task, peer, {});
  for (auto& [other_id, other] : task.peers) {
    auto p = std::find(other.parents.begin(), other.parents.end(), peer_id);
    if (p != other.parents.end()) {
      other.parents.erase(p);
    }
  }
  --peer.host->peer_count;
  if (peer.session != 0) {
    --peer.host->live_streams;
    sessions_.erase(peer.session);
  }
  task.peers.erase(it);
  ++task.version;
}

Result<Actions> SchedulerState::Register(SessionId session, const v1::Register& registration,
                                         std::string_view owner) {
  if (registration.task_id().empty() || registration.peer_id().empty() ||
      registration.host().id().empty()) {
    return Status::InvalidArgument("Register needs task_id, peer_id and host.id");
  }
  MutexLock lock(mutex_);
  if (session == 0 || sessions_.contains(session)) {
    return Status::InvalidArgument("stream " + std::to_string(session) + " already registered");
  }
  FL_RETURN_IF_ERROR(CheckOwner(registration.host().id(), owner));
  auto [task_it, task_created] = tasks_.try_emplace(registration.task_id());
  Task& task = task_it->second;
  if (task_created) {
    task.id = registration.task_id();
    task.spec = registration.spec();
  }
  uint32_t total = TotalPieces(task);
  for (uint32_t number : registration.held_pieces()) {
    if (total > 0 && number >= total) {
      return Status::InvalidArgument("Register: held piece " + std::to_string(number) +
                                     " out of range (task has " + std::to_string(total) +
                                     " pieces)");
    }
  }
  Host& host = UpsertHost(registration.host(), /*with_stats=*/false, owner);
  if (task.peers.contains(registration.peer_id())) {
    RemovePeer(task, registration.peer_id(), /*replaced=*/true);
  }
  Peer& peer = task.peers[registration.peer_id()];
  peer.id = registration.peer_id();
  peer.session = session;
  peer.host = &host;
  peer.seed = host.profile.seed;
  peer.access_proven = registration.access_proven();
  peer.wait_started = clock_.Now();
  if (registration.private_task() && !task.private_task) {
    task.private_task = true;
    // Whoever read the origin without proving access no longer speaks for it.
    for (auto& [id, other] : task.peers) {
      other.sent_to_origin = other.sent_to_origin && MayRead(task, other);
    }
  }
  for (uint32_t number : registration.held_pieces()) {
    if (number >= peer.pieces.size()) {
      peer.pieces.resize(number + 1);
    }
    if (!peer.pieces[number]) {
      peer.pieces[number] = true;
      ++peer.finished_pieces;
    }
  }
  peer.knows_content_length = task.content_length_known && peer.finished_pieces > 0;
  ++host.peer_count;
  ++host.live_streams;
  sessions_[session] = SessionRef{task.id, peer.id};
  if (peer.seed && task.trigger != TriggerState::kNone) {
    task.trigger = TriggerState::kNone;  // a seed peer is here: the trigger is fulfilled
    task.trigger_host.clear();
  }
  ++task.version;
  Actions out;
  Decide(task, peer, out);
  return out;
}

Actions SchedulerState::StreamClosed(SessionId session) {
  Actions out;
  MutexLock lock(mutex_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    return out;
  }
  SessionRef ref = it->second;
  Task& task = tasks_.at(ref.task_id);
  Peer& peer = task.peers.at(ref.peer_id);
  if (peer.phase == PeerPhase::kSucceeded && config_.finished_peer_ttl.count() > 0) {
    // Still a parent: the content stays in the peer's store.
    sessions_.erase(it);
    peer.session = 0;
    peer.detached_at = clock_.Now();
    --peer.host->live_streams;
    return out;
  }
  RemovePeer(task, ref.peer_id);
  return out;
}

// ---------------------------------------------------------------- decisions

SchedulerState::Selection SchedulerState::SelectFor(
    const Task& task, const Peer& peer, const std::unordered_set<std::string>* extra_excluded,
    size_t limit) const {
  if (task.quarantined || !MayRead(task, peer)) {
    return Selection{};  // content in dispute, or a private task the peer may not read
  }
  std::vector<CandidatePeer> candidates;
  candidates.reserve(task.peers.size());
  for (const auto& [id, other] : task.peers) {
    if (!MayRead(task, other)) {
      continue;  // read what it may not have been allowed to: never a parent
    }
    candidates.push_back(CandidatePeer{id, &other.host->profile, other.phase,
                                       other.knows_content_length, other.finished_pieces,
                                       other.children, &other.parents});
  }
  std::unordered_set<std::string> merged;
  const std::unordered_set<std::string>* excluded = &peer.excluded;
  if (extra_excluded != nullptr && !extra_excluded->empty()) {
    merged = peer.excluded;
    merged.insert(extra_excluded->begin(), extra_excluded->end());
    excluded = &merged;
  }
  SelectionRequest request{peer.id, &peer.host->profile, excluded, TotalPieces(task), limit};
  std::vector<FilterReason> reasons;
  Selection selection;
  for (const ScoredCandidate& chosen : SelectParents(request, candidates, &reasons)) {
    selection.parents.emplace_back(candidates[chosen.index].peer_id);
  }
  selection.parent_may_appear = std::any_of(reasons.begin(), reasons.end(), IsTransient);
  return selection;
}

void SchedulerState::MaybeTriggerSeed(Task& task, const Peer& requester, Actions& out) {
  if (task.trigger != TriggerState::kNone) {
    return;
  }
  for (const auto& [id, other] : task.peers) {
    if (other.seed && other.phase != PeerPhase::kFailed && other.phase != PeerPhase::kLeft) {
      return;  // a seed peer already has the task
    }
  }
  const Host* best = nullptr;
  uint64_t best_weight = 0;
  for (const auto& [host_id, host] : hosts_) {
    if (!host.profile.seed || host.info.peer_port() == 0 || host.info.ip().empty() ||
        &host == requester.host || task.failed_seeds.contains(host_id)) {
      continue;
    }
    uint64_t weight = RendezvousWeight(task.id, host_id);
    if (best == nullptr || weight > best_weight ||
        (weight == best_weight && host_id < best->info.id())) {
      best = &host;
      best_weight = weight;
    }
  }
  if (best == nullptr) {
    return;
  }
  task.trigger = TriggerState::kInFlight;
  task.trigger_host = best->info.id();
  task.trigger_at = clock_.Now();
  ++task.version;
  out.seed_triggers.push_back(
      SeedTrigger{task.id, best->info.id(), PeerServiceAddress(best->info), task.spec});
}

void SchedulerState::Decide(Task& task, Peer& peer, Actions& out) {
  Clock::TimePoint now = clock_.Now();
  peer.evaluated_at = now;
  peer.evaluated_version = VersionOf(task);
  if (task.content_length_known && task.content_length == 0) {
    SendEmpty(task, peer, out);
    return;
  }
  if (!MayRead(task, peer)) {
    SendBackToSource(task, peer, common::v1::BACK_TO_SOURCE_REASON_NO_PARENT, out);
    return;
  }
  Selection selection = SelectFor(task, peer, nullptr, config_.candidate_parent_limit);
  if (!selection.parents.empty()) {
    SendNormal(task, peer, std::move(selection.parents), out);
    return;
  }
  if (peer.seed) {
    SendBackToSource(task, peer, common::v1::BACK_TO_SOURCE_REASON_SEED, out);
    return;
  }
  MaybeTriggerSeed(task, peer, out);
  Clock::Duration waited = now - peer.wait_started;
  bool may_appear = selection.parent_may_appear || task.trigger != TriggerState::kNone;
  if (waited < config_.schedule_wait && may_appear) {
    peer.evaluated_version = VersionOf(task);
    return;
  }
  if (task.back_to_source < config_.max_back_to_source_peers_per_task) {
    SendBackToSource(task, peer, common::v1::BACK_TO_SOURCE_REASON_NO_PARENT, out);
    return;
  }
  if (waited >= config_.max_schedule_wait) {
    SendBackToSource(task, peer, common::v1::BACK_TO_SOURCE_REASON_CAP_REACHED, out);
    return;
  }
  peer.evaluated_version = VersionOf(task);
}

void SchedulerState::EvaluateWaiting(Task& task, bool force, Actions& out) {
  Clock::TimePoint now = clock_.Now();
  for (auto& [id, peer] : task.peers) {
    if (peer.phase != PeerPhase::kWaiting) {
      continue;
    }
    Clock::TimePoint short_deadline = peer.wait_started + config_.schedule_wait;
    Clock::TimePoint long_deadline = peer.wait_started + config_.max_schedule_wait;
    bool deadline_passed = (peer.evaluated_at < short_deadline && short_deadline <= now) ||
                           (peer.evaluated_at < long_deadline && long_deadline <= now);
    if (force || deadline_passed || peer.evaluated_version != VersionOf(task)) {
      Decide(task, peer, out);
    }
  }
}

void SchedulerState::SendNormal(Task& task, Peer& peer, std::vector<std::string> parents,
                                Actions& out) {
  OutboundMessage message{peer.session, task.id, peer.id, {}};
  v1::ScheduleDecision* decision = message.response.mutable_decision();
  decision->set_kind(v1::ScheduleDecision::KIND_NORMAL);
  for (const std::string& id : parents) {
    const Peer& parent = task.peers.at(id);
    v1::CandidateParent* candidate = decision->add_parents();
    candidate->set_peer_id(id);
    *candidate->mutable_host() = parent.host->info;
  }
  decision->set_content_length(task.content_length);
  decision->set_piece_length(task.piece_length);
  AddGrant(task, peer, /*with_grant=*/true, *decision);
  out.messages.push_back(std::move(message));
  if (!task.digests.empty()) {
    OutboundMessage digests{peer.session, task.id, peer.id, {}};
    for (const auto& [number, sha256] : task.digests) {
      common::v1::PieceDigest* digest = digests.response.mutable_piece_digests()->add_pieces();
      digest->set_number(number);
      digest->set_sha256(sha256);
    }
    out.messages.push_back(std::move(digests));
  }
  SetParents(task, peer, std::move(parents));
  peer.knows_content_length = true;
  if (peer.phase == PeerPhase::kWaiting || peer.phase == PeerPhase::kBackToSource) {
    SetPhase(task, peer, PeerPhase::kRunning);
  }
  ++task.version;
}

void SchedulerState::SendBackToSource(Task& task, Peer& peer, BackToSourceReason reason,
                                      Actions& out) {
  OutboundMessage message{peer.session, task.id, peer.id, {}};
  v1::ScheduleDecision* decision = message.response.mutable_decision();
  decision->set_kind(v1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  decision->set_reason(reason);
  AddGrant(task, peer, /*with_grant=*/false, *decision);
  out.messages.push_back(std::move(message));
  peer.sent_to_origin = MayRead(task, peer);
  SetParents(task, peer, {});
  SetPhase(task, peer, PeerPhase::kBackToSource);
}

void SchedulerState::SendEmpty(Task& task, Peer& peer, Actions& out) {
  OutboundMessage message{peer.session, task.id, peer.id, {}};
  v1::ScheduleDecision* decision = message.response.mutable_decision();
  decision->set_kind(v1::ScheduleDecision::KIND_EMPTY);
  decision->set_content_length(0);
  decision->set_piece_length(task.piece_length);
  AddGrant(task, peer, /*with_grant=*/false, *decision);
  out.messages.push_back(std::move(message));
  SetParents(task, peer, {});
  peer.knows_content_length = true;
  SetPhase(task, peer, PeerPhase::kRunning);
}

void SchedulerState::AddGrant(const Task& task, Peer& peer, bool with_grant,
                              v1::ScheduleDecision& decision) {
  if (!task.private_task) {
    return;
  }
  decision.set_grant_key(signer_->public_key());
  if (!with_grant || !MayRead(task, peer)) {
    return;
  }
  auto ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.grants.ttl);
  decision.set_grant(signer_->Sign(
      access::GrantClaims{task.id, clock_.NowUnixSeconds() + ttl.count(), peer.host->info.ip()}));
  peer.granted_at = clock_.Now();
}

void SchedulerState::RenewGrants(Task& task, Actions& out) {
  if (!task.private_task) {
    return;
  }
  const Clock::TimePoint now = clock_.Now();
  for (auto& [id, peer] : task.peers) {
    if (peer.session == 0 || !peer.granted_at || now - *peer.granted_at < config_.grants.ttl / 2 ||
        (peer.phase != PeerPhase::kRunning && peer.phase != PeerPhase::kBackToSource)) {
      continue;
    }
    v1::ScheduleDecision fresh;
    AddGrant(task, peer, /*with_grant=*/true, fresh);
    OutboundMessage message{peer.session, task.id, id, {}};
    message.response.mutable_grant_renewed()->set_grant(fresh.grant());
    out.messages.push_back(std::move(message));
  }
}

// ---------------------------------------------------------------- ticks and queries

Actions SchedulerState::SeedTriggerDone(std::string_view task_id, std::string_view host_id,
                                        const Status& status) {
  Actions out;
  MutexLock lock(mutex_);
  auto it = tasks_.find(std::string(task_id));
  if (it == tasks_.end()) {
    return out;
  }
  Task& task = it->second;
  if (task.trigger != TriggerState::kInFlight || task.trigger_host != host_id) {
    return out;  // stale: fulfilled, timed out or replaced meanwhile
  }
  if (status.ok()) {
    task.trigger = TriggerState::kAccepted;
    task.trigger_at = clock_.Now();
    return out;
  }
  MarkSeedFailed(task, std::string(host_id));
  EvaluateWaiting(task, /*force=*/true, out);
  return out;
}

Actions SchedulerState::Tick() {
  Actions out;
  MutexLock lock(mutex_);
  Clock::TimePoint now = clock_.Now();
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    Task& task = it->second;
    if (task.trigger != TriggerState::kNone) {
      // An accepted trigger must be followed by the seed's Register within
      // the timeout; an in-flight call has its own deadline, this is a backstop.
      auto limit = task.trigger == TriggerState::kAccepted ? config_.seed_trigger_timeout
                                                           : 2 * config_.seed_trigger_timeout;
      if (now - task.trigger_at >= limit) {
        out.warnings.push_back("seed_trigger_expired task=" + task.id +
                               " seed=" + task.trigger_host);
        MarkSeedFailed(task, task.trigger_host);
      }
    }
    std::vector<std::string> expired;
    for (const auto& [id, peer] : task.peers) {
      if (peer.session == 0 && now - peer.detached_at >= config_.finished_peer_ttl) {
        expired.push_back(id);
      }
    }
    for (const std::string& id : expired) {
      RemovePeer(task, id);
    }
    EvaluateWaiting(task, /*force=*/false, out);
    RenewGrants(task, out);
    if (task.peers.empty() && task.trigger == TriggerState::kNone) {
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    Host& host = it->second;
    if (host.live_streams > 0 || now - host.last_seen < config_.host_ttl) {
      ++it;
      continue;
    }
    for (auto& [task_id, task] : tasks_) {
      if (host.peer_count == 0) {
        break;
      }
      std::vector<std::string> detached;
      for (const auto& [id, peer] : task.peers) {
        if (peer.host == &host) {
          detached.push_back(id);
        }
      }
      for (const std::string& id : detached) {
        RemovePeer(task, id);
      }
    }
    it = hosts_.erase(it);
    ++hosts_version_;
  }
  return out;
}

Result<v1::StatTaskResponse> SchedulerState::StatTask(std::string_view task_id) const {
  MutexLock lock(mutex_);
  auto it = tasks_.find(std::string(task_id));
  if (it == tasks_.end()) {
    return Status::NotFound("task " + std::string(task_id) + " is not known");
  }
  const Task& task = it->second;
  v1::StatTaskResponse response;
  response.set_task_id(task.id);
  response.set_content_length(task.content_length);
  response.set_piece_length(task.piece_length);
  response.set_content_length_known(task.content_length_known);
  response.set_peer_count(static_cast<uint32_t>(task.peers.size()));
  uint32_t succeeded = 0;
  for (const auto& [id, peer] : task.peers) {
    succeeded += peer.phase == PeerPhase::kSucceeded ? 1 : 0;
  }
  response.set_succeeded_peer_count(succeeded);
  response.set_back_to_source_peer_count(task.back_to_source);
  response.set_known_piece_digests(static_cast<uint32_t>(task.digests.size()));
  return response;
}

StateCounts SchedulerState::Counts() const {
  MutexLock lock(mutex_);
  return StateCounts{hosts_.size(), tasks_.size(), sessions_.size()};
}

Result<bool> SchedulerState::IsQuarantined(std::string_view task_id) const {
  MutexLock lock(mutex_);
  auto it = tasks_.find(std::string(task_id));
  if (it == tasks_.end()) {
    return Status::NotFound("unknown task " + std::string(task_id));
  }
  return it->second.quarantined;
}

uint64_t SchedulerState::digest_conflicts() const {
  MutexLock lock(mutex_);
  return digest_conflicts_;
}

Result<PeerPhase> SchedulerState::PhaseOf(std::string_view task_id,
                                          std::string_view peer_id) const {
  MutexLock lock(mutex_);
  auto task = tasks_.find(std::string(task_id));
  if (task != tasks_.end()) {
    auto peer = task->second.peers.find(std::string(peer_id));
    if (peer != task->second.peers.end()) {
      return peer->second.phase;
    }
  }
  return Status::NotFound("no peer " + std::string(peer_id) + " of task " + std::string(task_id));
}

}  // namespace feilong::scheduler
