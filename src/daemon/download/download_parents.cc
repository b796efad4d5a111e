// The parents side of a download: its parents (added from decisions,
// dropped on failures), dispatching pieces to them within the daemon's
// transfer budget, and what each piece transfer's result changes. Same
// strand as download.cc.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/conductor_rules.h"
#include "daemon/download/download_impl.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/parent_demand.h"
#include "daemon/download/piece_picker.h"
#include "daemon/upload/piece_hub.h"
#include "source/url.h"
#include "storage/piece_store.h"

namespace feilong::daemon {

namespace cv1 = feilong::common::v1;
namespace sv1 = feilong::scheduler::v1;
using namespace conductor;  // NOLINT(google-build-using-namespace): the conductor's own events

namespace {

const char* FailureKind(const Status& s) {
  if (s.IsCorruption()) return "corruption";
  if (s.code() == StatusCode::kDeadlineExceeded) return "timeout";
  return "unavailable";
}

}  // namespace

bool Download::Impl::AddParent(const sv1::CandidateParent& candidate) {
  const std::string& id = candidate.peer_id();
  if (id == peer_id_ || blocked_parents_.count(id) || parents_.count(id)) {
    return false;
  }
  Parent parent;
  parent.peer_id = id;
  parent.ip = candidate.host().ip();
  parent.piece_port = static_cast<uint16_t>(candidate.host().piece_port());
  parent.gate_key = fmt::format("{}:{}", parent.ip, parent.piece_port);
  parent.has.assign(held_.size(), false);
  auto mailbox = mailbox_;
  parent.watcher = deps_.parent_feed.Watch(
      candidate, options_.task_id, peer_id_, grant_,
      [mailbox, id](std::vector<uint32_t> numbers) {
        mailbox->Post(ParentPieces{id, std::move(numbers)});
      },
      [mailbox, id](Status s) {
        mailbox->Post(ParentEnded{id, std::move(s)});
      });
  spdlog::debug("parent_added task={} parent={}", options_.task_id, id);
  parents_.emplace(id, std::move(parent));
  return true;
}

void Download::Impl::DropParent(const std::string& parent_id, bool block) {
  if (block) {
    blocked_parents_.insert(parent_id);
    if (!origin_mode_) {
      starved_check_at_ = Now() + kStarvedPatience;
    }
  }
  auto it = parents_.find(parent_id);
  if (it == parents_.end()) {
    return;
  }
  if (it->second.in_flight == 0) {
    parents_.erase(it);
  } else {
    // Results of its in-flight pieces still arrive; stop following it now.
    it->second.watcher.reset();
    std::fill(it->second.has.begin(), it->second.has.end(), false);
  }
  if (UsableParents() == 0 && !origin_mode_) {
    RequestMoreParents(/*after_failure=*/true);
  }
}

bool Download::Impl::ParentsHaveMissingPieces() const {
  for (const auto& [id, parent] : parents_) {
    if (blocked_parents_.count(id)) {
      continue;
    }
    for (size_t n = 0; n < held_.size() && n < parent.has.size(); ++n) {
      // Only a piece whose digest we know can be taken from a parent.
      if (parent.has[n] && !held_[n] && digests_[n].has_value()) {
        return true;
      }
    }
  }
  return false;
}

bool Download::Impl::IsStarved() const {
  return Starved(in_flight_count_ - origin_pieces_, ParentsHaveMissingPieces());
}

uint32_t Download::Impl::UsableParents() const {
  uint32_t n = 0;
  for (const auto& [id, parent] : parents_) {
    if (!blocked_parents_.count(id)) {
      ++n;
    }
  }
  return n;
}

void Download::Impl::Dispatch() {
  if (probe_wanted_ && !probing_ && !done_) {
    SubmitProbe();
  }
  if (!geometry_known_ || done_ || whole_body_mode_) {
    return;
  }
  std::vector<bool> verifiable(digests_.size());
  for (size_t n = 0; n < digests_.size(); ++n) {
    verifiable[n] = digests_[n].has_value();
  }
  // Parents whose host keeps failing (for any download of this daemon) sit
  // out until their circuit breaker lets a probe through; parents that just
  // answered busy sit out their backoff.
  const TimePoint now = Now();
  std::vector<Parent*> usable;
  for (auto& [id, parent] : parents_) {
    if (!blocked_parents_.count(id) && !deps_.parent_gate.IsOpen(parent.gate_key) &&
        parent.busy_until <= now) {
      usable.push_back(&parent);
    }
  }
  // A parent's view without the pieces it just refused us.
  std::vector<std::vector<bool>> masked(usable.size());
  for (size_t i = 0; i < usable.size(); ++i) {
    auto& refused = usable[i]->refused;
    std::erase_if(refused, [&](const auto& entry) { return entry.second <= now; });
    if (!refused.empty()) {
      masked[i] = usable[i]->has;
      for (const auto& [number, until] : refused) {
        if (number < masked[i].size()) {
          masked[i][number] = false;
        }
      }
    }
  }
  const uint32_t limit = TransferLimit();
  while (TransfersInFlight() < limit && !usable.empty()) {
    std::vector<PickerParent> views;
    for (size_t i = 0; i < usable.size(); ++i) {
      views.push_back(
          {usable[i]->refused.empty() ? &usable[i]->has : &masked[i], usable[i]->in_flight});
    }
    auto pick = PickFromParents(PickerInput{held_, in_flight_, verifiable, views, picker_spread_,
                                            deps_.config.parent_max_in_flight});
    if (!pick) {
      break;
    }
    Parent& parent = *usable[pick->parent];
    auto pass = deps_.parent_gate.TryEnter(parent.gate_key);
    if (!pass.ok()) {
      usable.erase(usable.begin() + static_cast<std::ptrdiff_t>(pick->parent));
      masked.erase(masked.begin() + static_cast<std::ptrdiff_t>(pick->parent));
      continue;
    }
    SubmitParentFetch(pick->piece, parent, std::move(*pass));
  }
  if (!IsUnderfed(Demand())) {
    underfed_since_.reset();
  } else if (!underfed_since_) {
    underfed_since_ = now;
  }
  DispatchToOrigin(verifiable);
}

void Download::Impl::SubmitParentFetch(uint32_t number, Parent& parent,
                                       std::unique_ptr<HostGate::Pass> pass) {
  in_flight_[number] = true;
  ++in_flight_count_;
  ++parent.in_flight;
  deps_.transfers.FetchFromParent(
      mailbox_,
      ParentPieceRequest{options_.task_id, parent.peer_id, parent.ip, parent.piece_port, number,
                         meta_.PieceSize(number), *digests_[number], grant_},
      std::move(pass));
}

uint32_t Download::Impl::TransferLimit() const {
  return transfer_share_ ? transfer_share_->limit(deps_.config.concurrent_pieces)
                         : deps_.config.concurrent_pieces;
}

uint32_t Download::Impl::TransfersInFlight() const {
  return in_flight_count_ - origin_pieces_ + origin_requests_;
}

ParentDemand Download::Impl::Demand() const {
  return ParentDemand{UsableParents(), deps_.config.parent_wanted, TransfersInFlight(),
                      TransferLimit()};
}

void Download::Impl::OnPieceResult(PieceResult& result) {
  if (result.number >= held_.size()) {
    return;
  }
  in_flight_[result.number] = false;
  --in_flight_count_;
  const bool from_origin = result.parent_id.empty();
  if (from_origin) {
    --origin_pieces_;
    if (origin_span_end_[result.number]) {
      origin_span_end_[result.number] = false;
      --origin_requests_;
    }
  } else if (auto it = parents_.find(result.parent_id); it != parents_.end()) {
    --it->second.in_flight;
  }
  // With a whole-file digest, that check decides: recorded piece digests
  // may come from another URL of the same digest whose bytes were wrong.
  if (result.status.ok() && from_origin && options_.spec.digest().empty() &&
      digests_[result.number].has_value() && *digests_[result.number] != result.digest) {
    // The origin's bytes are not what the task's trusted peers read: tell
    // the scheduler (it quarantines the task) and fail loudly rather than
    // mix two versions of the content.
    sv1::AnnouncePeerRequest req;
    req.mutable_piece_finished()->set_number(result.number);
    req.mutable_piece_finished()->set_sha256(
        std::string(result.digest.begin(), result.digest.end()));
    Send(req);
    content_corrupt_ = true;
    Finish(Status::Corruption(fmt::format(
        "piece {} from origin {} has digest {}, the task's recorded digest is {}: the content "
        "changed at the origin, or a peer reported a wrong digest",
        result.number, source::RedactUrl(options_.spec.url()), Sha256String(result.digest),
        Sha256String(*digests_[result.number]))));
    return;
  }
  if (result.status.ok()) {
    if (!held_[result.number]) {
      held_[result.number] = true;
      ++held_count_;
      completed_length_ += result.bytes;
      (from_origin ? from_origin_ : from_peers_) += result.bytes;
      deps_.metrics.download_bytes.WithLabels({from_origin ? "origin" : "peer"})
          .Increment(result.bytes);
      digests_[result.number] = result.digest;
      deps_.hub.PublishPiece(options_.task_id, result.number);
    }
    last_progress_ = Now();
    sv1::AnnouncePeerRequest req;
    auto* finished = req.mutable_piece_finished();
    finished->set_number(result.number);
    finished->set_parent_id(result.parent_id);
    finished->set_sha256(std::string(result.digest.begin(), result.digest.end()));
    finished->set_cost_us(static_cast<uint64_t>(result.cost.count()));
    Send(req);
    NotifyAll();
    return;
  }
  if (result.status.code() == StatusCode::kCancelled || mailbox_->cancelled) {
    return;
  }
  if (result.busy != PieceFetchResult::Busy::kNo) {
    OnParentBusy(result);
    return;
  }
  deps_.metrics.piece_failures
      .WithLabels({from_origin ? "origin" : "peer", FailureKind(result.status)})
      .Increment();
  if (from_origin) {
    spdlog::warn("origin_piece_failed task={} piece={} error=\"{}\"", options_.task_id,
                 result.number, result.status.ToString());
    if (whole_body_mode_) {
      ++origin_attempts_[result.number];  // per-piece attempts are counted at submission
    }
    OnOriginPieceFailure(result.number, result.status);
    if (whole_body_mode_ && !done_) {
      whole_body_mode_ = false;  // fall back to per-piece requests for the rest
    }
    return;
  }
  if (result.status.code() == StatusCode::kResourceExhausted ||
      result.status.code() == StatusCode::kIOError) {
    // Local disk trouble is not the parent's fault.
    Finish(result.status.WithContext("storing piece " + std::to_string(result.number)));
    return;
  }
  spdlog::info("parent_piece_failed task={} piece={} parent={} error=\"{}\"", options_.task_id,
               result.number, result.parent_id, result.status.ToString());
  sv1::AnnouncePeerRequest req;
  auto* failed = req.mutable_piece_failed();
  failed->set_number(result.number);
  failed->set_parent_id(result.parent_id);
  failed->set_kind(result.status.IsCorruption() ? sv1::PieceFailed::KIND_CORRUPTION
                   : result.status.code() == StatusCode::kDeadlineExceeded
                       ? sv1::PieceFailed::KIND_TIMEOUT
                       : sv1::PieceFailed::KIND_UNAVAILABLE);
  Send(req);
  auto it = parents_.find(result.parent_id);
  if (it == parents_.end()) {
    return;
  }
  ++it->second.failures;
  if (DropsParent(result.status, it->second.failures)) {
    DropParent(result.parent_id, /*block=*/true);
  } else if (it->second.in_flight == 0 && blocked_parents_.count(result.parent_id)) {
    parents_.erase(it);
  }
}

void Download::Impl::OnParentBusy(const PieceResult& result) {
  deps_.metrics.parent_busy
      .WithLabels({result.busy == PieceFetchResult::Busy::kPiece ? "piece" : "slots"})
      .Increment();
  auto it = parents_.find(result.parent_id);
  if (it == parents_.end()) {
    return;
  }
  if (it->second.in_flight == 0 && blocked_parents_.count(result.parent_id)) {
    parents_.erase(it);
    return;
  }
  if (result.busy == PieceFetchResult::Busy::kPiece) {
    it->second.refused[result.number] = Now() + BusyBackoff(deps_.config.parent_busy_backoff, rng_);
  } else {
    it->second.busy_until = Now() + BusyBackoff(deps_.config.parent_busy_backoff, rng_);
  }
}

}  // namespace feilong::daemon
