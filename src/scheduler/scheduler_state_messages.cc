// SchedulerState: handlers of the messages a registered peer sends on its
// AnnouncePeer stream.
#include <utility>

#include "scheduler/scheduler_state.h"

namespace feilong::scheduler {

Result<Actions> SchedulerState::Handle(SessionId session, const v1::AnnouncePeerRequest& request) {
  MutexLock lock(mutex_);
  FL_ASSIGN_OR_RETURN(auto found, Lookup(session));
  Task& task = *found.first;
  Peer& peer = *found.second;
  using R = v1::AnnouncePeerRequest;
  switch (request.request_case()) {
    case R::kRegister:
      return Status::InvalidArgument("a second Register on the same stream");
    case R::kContentLengthKnown:
      return OnContentLengthKnown(task, peer, request.content_length_known());
    case R::kPieceFinished:
      return OnPieceFinished(task, peer, request.piece_finished());
    case R::kPieceFailed:
      return OnPieceFailed(task, peer, request.piece_failed());
    case R::kReschedule:
      return OnReschedule(task, peer, request.reschedule());
    case R::kBackToSourceStarted:
      return OnBackToSourceStarted(task, peer);
    case R::kDownloadFinished:
      return OnDownloadFinished(task, peer);
    case R::kDownloadFailed:
      return OnDownloadFailed(task, peer, request.download_failed());
    case R::REQUEST_NOT_SET:
      break;
  }
  return Status::InvalidArgument("an AnnouncePeerRequest with no request set");
}

Result<Actions> SchedulerState::OnContentLengthKnown(Task& task, Peer& peer,
                                                     const v1::ContentLengthKnown& m) {
  if (m.content_length() > 0 && m.piece_length() == 0) {
    return Status::InvalidArgument("ContentLengthKnown: piece_length is 0");
  }
  Actions out;
  const bool agrees = task.content_length_known && task.content_length == m.content_length() &&
                      task.piece_length == m.piece_length();
  if (!Trusted(task, peer) && !agrees) {
    Untrusted(task, peer,
              "content length " + std::to_string(m.content_length()) + "/" +
                  std::to_string(m.piece_length()),
              out);
    return out;
  }
  if (!task.content_length_known) {
    task.content_length_known = true;
    task.content_length = m.content_length();
    task.piece_length = m.piece_length();
  } else if (!agrees) {
    // The peer is not offered as a parent: its content differs.
    Quarantine(task, peer, 0,
               "content length " + std::to_string(m.content_length()) + "/" +
                   std::to_string(m.piece_length()) + " differs from the recorded " +
                   std::to_string(task.content_length) + "/" + std::to_string(task.piece_length),
               out);
    return out;
  }
  peer.knows_content_length = true;
  ++task.version;
  EvaluateWaiting(task, /*force=*/true, out);
  return out;
}

Result<Actions> SchedulerState::OnPieceFinished(Task& task, Peer& peer,
                                                const v1::PieceFinished& m) {
  uint32_t total = TotalPieces(task);
  if (total > 0 && m.number() >= total) {
    return Status::InvalidArgument("PieceFinished: piece " + std::to_string(m.number()) +
                                   " out of range (task has " + std::to_string(total) + " pieces)");
  }
  if (!m.sha256().empty() && m.sha256().size() != 32) {
    return Status::InvalidArgument("PieceFinished: sha256 has " +
                                   std::to_string(m.sha256().size()) + " bytes, want 32");
  }
  Actions out;
  if (m.number() >= peer.pieces.size()) {
    peer.pieces.resize(m.number() + 1);
  }
  if (!peer.pieces[m.number()]) {
    peer.pieces[m.number()] = true;
    ++peer.finished_pieces;
  }
  if (!m.parent_id().empty()) {
    auto parent = task.peers.find(m.parent_id());
    if (parent != task.peers.end()) {
      ++parent->second.host->profile.upload_successes;
    }
    return out;
  }
  if (m.sha256().empty() || task.quarantined) {
    return out;
  }
  if (!Trusted(task, peer)) {
    Untrusted(task, peer, "digest of piece " + std::to_string(m.number()), out);
    return out;
  }
  auto [it, inserted] = task.digests.try_emplace(m.number(), m.sha256());
  if (inserted) {
    PushDigest(task, peer, m.number(), m.sha256(), out);
  } else if (it->second != m.sha256()) {
    Quarantine(task, peer, m.number(),
               "piece " + std::to_string(m.number()) + " digest differs from the recorded one",
               out);
  }
  return out;
}

void SchedulerState::PushDigest(Task& task, const Peer& reporter, uint32_t piece,
                                const std::string& sha256, Actions& out) {
  for (const auto& [id, other] : task.peers) {
    if (&other == &reporter || !MayRead(task, other) ||
        (other.phase != PeerPhase::kRunning && other.phase != PeerPhase::kBackToSource)) {
      continue;
    }
    OutboundMessage message{other.session, task.id, id, {}};
    common::v1::PieceDigest* digest = message.response.mutable_piece_digests()->add_pieces();
    digest->set_number(piece);
    digest->set_sha256(sha256);
    out.messages.push_back(std::move(message));
  }
}

void SchedulerState::Untrusted(const Task& task, const Peer& peer, std::string_view what,
                               Actions& out) {
  ++out.untrusted_reports;
  out.warnings.push_back("untrusted_report task=" + task.id + " peer=" + peer.id +
                         " host=" + peer.host->info.id() + " report=\"" + std::string(what) +
                         "\" reason=\"the scheduler did not send this peer to the origin\"");
}

void SchedulerState::Quarantine(Task& task, const Peer& reporter, uint32_t piece,
                                const std::string& why, Actions& out) {
  ++digest_conflicts_;
  out.digest_conflicts.push_back(DigestConflict{task.id, piece, reporter.id});
  if (task.quarantined) {
    return;
  }
  task.quarantined = true;
  task.digests.clear();
  ++task.version;
  out.quarantined.push_back(task.id);
  out.warnings.push_back("task_quarantined task=" + task.id + " peer=" + reporter.id +
                         " host=" + reporter.host->info.id() + " reason=\"" + why + "\"");
}

Result<Actions> SchedulerState::OnPieceFailed(Task& task, Peer& peer, const v1::PieceFailed& m) {
  if (m.parent_id().empty()) {
    return Status::InvalidArgument("PieceFailed: parent_id is empty");
  }
  peer.excluded.insert(m.parent_id());
  auto parent = task.peers.find(m.parent_id());
  if (parent != task.peers.end()) {
    ++parent->second.host->profile.upload_failures;
  }
  return Actions{};
}

Result<Actions> SchedulerState::OnReschedule(Task& task, Peer& peer, const v1::Reschedule& m) {
  if (peer.phase == PeerPhase::kSucceeded || peer.phase == PeerPhase::kFailed) {
    return Status::FailedPrecondition("Reschedule from a peer that is " +
                                      std::string(PeerPhaseName(peer.phase)));
  }
  for (const std::string& id : m.blocked_parent_ids()) {
    peer.excluded.insert(id);
  }
  Actions out;
  if (peer.phase == PeerPhase::kWaiting) {
    Decide(task, peer, out);
    return out;
  }
  // Current parents still present and not excluded: kept after new ones.
  std::vector<std::string> current;
  for (const std::string& id : peer.parents) {
    if (!peer.excluded.contains(id) && task.peers.contains(id)) {
      current.push_back(id);
    }
  }
  std::unordered_set<std::string> current_set(current.begin(), current.end());
  std::vector<std::string> parents =
      SelectFor(task, peer, &current_set, config_.candidate_parent_limit).parents;
  size_t fresh = parents.size();
  for (std::string& id : SelectFor(task, peer, nullptr, task.peers.size()).parents) {
    if (current_set.contains(id)) {
      parents.push_back(std::move(id));
    }
  }
  if (parents.size() == fresh) {
    // None of the current parents passes the filter now (e.g. no free upload
    // slot for a moment), but the peer may still be using them.
    parents.insert(parents.end(), current.begin(), current.end());
  }
  if (parents.size() > 2 * config_.candidate_parent_limit) {
    parents.resize(2 * config_.candidate_parent_limit);
  }
  if (!parents.empty()) {
    SendNormal(task, peer, std::move(parents), out);
    return out;
  }
  StartWaiting(task, peer);
  Decide(task, peer, out);
  return out;
}

Result<Actions> SchedulerState::OnBackToSourceStarted(Task& task, Peer& peer) {
  if (peer.phase == PeerPhase::kSucceeded || peer.phase == PeerPhase::kFailed) {
    return Status::FailedPrecondition("BackToSourceStarted from a peer that is " +
                                      std::string(PeerPhaseName(peer.phase)));
  }
  if (!peer.sent_to_origin && WouldSendToOrigin(task, peer)) {
    peer.sent_to_origin = true;  // endorsed: the rules would have sent it there
  }
  SetParents(task, peer, {});
  SetPhase(task, peer, PeerPhase::kBackToSource);
  return Actions{};
}

bool SchedulerState::Trusted(const Task& task, Peer& peer) const {
  // A peer that went to the origin while a seed still seemed alive is
  // trusted once the rules would send it there (the seed's death noticed).
  if (!peer.sent_to_origin && peer.phase == PeerPhase::kBackToSource && MayRead(task, peer) &&
      WouldSendToOrigin(task, peer)) {
    peer.sent_to_origin = true;
  }
  return peer.sent_to_origin;
}

bool SchedulerState::WouldSendToOrigin(const Task& task, const Peer& peer) const {
  if (task.trigger != TriggerState::kNone) {
    return false;  // a seed is on its way
  }
  uint32_t trusted = 0;
  for (const auto& [id, other] : task.peers) {
    if (&other == &peer || other.phase == PeerPhase::kFailed || other.phase == PeerPhase::kLeft) {
      continue;
    }
    if (other.seed) {
      return false;  // a seed peer has or is fetching the task
    }
    trusted += other.sent_to_origin ? 1 : 0;
  }
  // The cap bounds trusted reporters too, whenever they were endorsed.
  return trusted < config_.max_back_to_source_peers_per_task;
}

Result<Actions> SchedulerState::OnDownloadFinished(Task& task, Peer& peer) {
  SetPhase(task, peer, PeerPhase::kSucceeded);
  peer.knows_content_length = true;
  uint32_t total = TotalPieces(task);
  if (total > 0) {
    peer.pieces.assign(total, true);
    peer.finished_pieces = total;
  }
  return Actions{};
}

Result<Actions> SchedulerState::OnDownloadFailed(Task& task, Peer& peer,
                                                 const v1::DownloadFailed& m) {
  Actions out;
  out.warnings.push_back("peer_failed task=" + task.id + " peer=" + peer.id + " message=\"" +
                         m.message() + "\"");
  SetParents(task, peer, {});
  SetPhase(task, peer, PeerPhase::kFailed);
  if (peer.seed) {
    MarkSeedFailed(task, peer.host->info.id());
  }
  EvaluateWaiting(task, /*force=*/true, out);
  return out;
}

}  // namespace feilong::scheduler
