#include <spdlog/spdlog.h>

#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/download_impl.h"

// The conductor's conversation with the scheduler: registering, decisions,
// digests, asking for more parents, and the move to the origin.
namespace feilong::daemon {

namespace cv1 = feilong::common::v1;
namespace sv1 = feilong::scheduler::v1;
using namespace conductor;  // NOLINT(google-build-using-namespace): the conductor's own events

void Download::Impl::ConnectScheduler() {
  sv1::Register reg;
  reg.set_task_id(options_.task_id);
  reg.set_peer_id(peer_id_);
  *reg.mutable_host() = deps_.host_info();
  *reg.mutable_spec() = options_.spec;
  reg.set_private_task(options_.private_task);
  reg.set_access_proven(options_.access_proven);
  for (uint32_t n = 0; n < held_.size(); ++n) {
    if (held_[n]) {
      reg.add_held_pieces(n);
    }
  }
  const uint64_t generation = ++scheduler_generation_;
  scheduler_connecting_ = true;
  auto mailbox = mailbox_;
  deps_.scheduler_link.Open(
      reg,
      [mailbox, generation](sv1::AnnouncePeerResponse m) {
        mailbox->Post(SchedulerMessage{generation, std::move(m)});
      },
      [mailbox, generation](Status s) {
        mailbox->Post(SchedulerClosed{generation, std::move(s)});
      },
      [mailbox, generation](Result<std::shared_ptr<SchedulerStream>> opened) {
        SchedulerOpened event{generation, opened.status(), nullptr};
        if (opened.ok()) {
          event.connection = std::move(opened).value();
        }
        mailbox->Post(std::move(event));
      });
}

void Download::Impl::OnSchedulerOpened(SchedulerOpened& opened) {
  if (opened.generation != scheduler_generation_) {
    return;  // a stream we no longer want: dropping it closes it
  }
  scheduler_connecting_ = false;
  if (!opened.status.ok()) {
    unsent_.clear();
    spdlog::warn("scheduler_unreachable task={} error=\"{}\"", options_.task_id,
                 opened.status.message());
    // Parents already feeding us keep doing so: the origin only when they
    // cannot (no parent now, or a stall later).
    if (UsableParents() == 0) {
      GoBackToSource(cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER);
    }
    return;
  }
  scheduler_ = std::move(opened.connection);
  spdlog::debug("registered task={} peer={} scheduler={}", options_.task_id, peer_id_,
                scheduler_->address());
  if (origin_mode_) {
    // Reconnected while already fetching from the origin: keep the new
    // scheduler informed so it counts us and can use us as a parent.
    sv1::AnnouncePeerRequest req;
    req.mutable_back_to_source_started()->set_reason(reason_);
    Send(req);
    if (geometry_known_) {
      sv1::AnnouncePeerRequest known;
      known.mutable_content_length_known()->set_content_length(meta_.content_length);
      known.mutable_content_length_known()->set_piece_length(meta_.piece_length);
      Send(known);
    }
  }
  for (const auto& request : unsent_) {
    Send(request);
  }
  unsent_.clear();
}

void Download::Impl::OnSchedulerClosed(const SchedulerClosed& closed) {
  if (closed.generation != scheduler_generation_) {
    return;
  }
  spdlog::warn("scheduler_stream_closed task={} error=\"{}\"", options_.task_id,
               closed.status.message());
  scheduler_.reset();
  // Another scheduler (or the same one, restarted) takes the task over;
  // once per configured scheduler, then the origin. Parents keep serving
  // meanwhile.
  if (scheduler_reconnects_ < deps_.config.schedulers.size()) {
    ++scheduler_reconnects_;
    ConnectScheduler();
  } else if (UsableParents() == 0) {
    GoBackToSource(cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER);
  }
}

void Download::Impl::Send(const sv1::AnnouncePeerRequest& request) {
  if (scheduler_) {
    scheduler_->Send(request);
  } else if (scheduler_connecting_ && unsent_.size() < kMaxUnsent) {
    // Reports made while a stream is being opened (pieces and their
    // digests above all: the new scheduler learns them from nobody else)
    // go out once it is open.
    unsent_.push_back(request);
  }
}

void Download::Impl::OnSchedulerMessage(const sv1::AnnouncePeerResponse& message) {
  if (message.has_decision()) {
    AdoptAccess(message.decision());
    OnDecision(message.decision());
    return;
  }
  if (message.has_grant_renewed()) {
    grant_ = message.grant_renewed().grant();
    return;
  }
  if (message.has_piece_digests()) {
    for (const auto& piece : message.piece_digests().pieces()) {
      if (piece.sha256().size() != 32) {
        continue;
      }
      if (digests_.size() <= piece.number()) {
        if (geometry_known_) {
          continue;  // out of range for this task: ignore
        }
        digests_.resize(piece.number() + 1);
      }
      Sha256Digest d{};
      std::copy(piece.sha256().begin(), piece.sha256().end(), d.begin());
      digests_[piece.number()] = d;
    }
  }
}

void Download::Impl::AdoptAccess(const sv1::ScheduleDecision& decision) {
  if (!decision.grant().empty()) {
    grant_ = decision.grant();
  }
  if (decision.grant_key().empty() || decision.grant_key() == grant_key_) {
    return;
  }
  // The scheduler knows the task is private even when our request was not.
  private_task_ = true;
  grant_key_ = decision.grant_key();
  if (geometry_known_) {
    Status recorded = deps_.store.SetTaskAccess(options_.task_id, grant_key_);
    if (!recorded.ok()) {
      Finish(recorded.WithContext("recording a private task's grant key"));
    }
  }
}

void Download::Impl::OnDecision(const sv1::ScheduleDecision& decision) {
  // The stall clock starts with the first decision and restarts with new
  // parents; an answer that brings nothing new must not reset it, or two
  // children waiting on each other for pieces neither has would wait forever.
  if (!first_decision_seen_) {
    last_progress_ = Now();
  }
  first_decision_seen_ = true;
  reschedule_pending_ = false;
  switch (decision.kind()) {
    case sv1::ScheduleDecision::KIND_EMPTY:
    case sv1::ScheduleDecision::KIND_NORMAL: {
      if (!geometry_known_) {
        Status s = LearnGeometry(decision.content_length(), decision.piece_length());
        if (!s.ok()) {
          Finish(s);
          return;
        }
      }
      for (const auto& candidate : decision.parents()) {
        if (AddParent(candidate)) {
          last_progress_ = Now();
        }
      }
      if (decision.kind() == sv1::ScheduleDecision::KIND_NORMAL && UsableParents() == 0 &&
          !origin_mode_) {
        RequestMoreParents(/*after_failure=*/true);
      }
      return;
    }
    case sv1::ScheduleDecision::KIND_BACK_TO_SOURCE:
      if (UsableParents() > 0 && (!geometry_known_ || !IsStarved())) {
        // An answer to a request for more parents: the ones we have still work.
        spdlog::debug("back_to_source_ignored task={} parents={}", options_.task_id,
                      UsableParents());
        return;
      }
      GoBackToSource(decision.reason() == cv1::BACK_TO_SOURCE_REASON_NONE
                         ? cv1::BACK_TO_SOURCE_REASON_NO_PARENT
                         : decision.reason());
      return;
    default:
      return;
  }
}

void Download::Impl::GoBackToSource(cv1::BackToSourceReason reason) {
  if (origin_mode_) {
    return;
  }
  if (!options_.allow_back_to_source) {
    Finish(Status::Unavailable(
        fmt::format("P2P could not serve task {} ({}) and back-to-source is disabled",
                    options_.task_id, ReasonLabel(reason))));
    return;
  }
  origin_mode_ = true;
  reason_ = reason;
  deps_.metrics.back_to_source.WithLabels({ReasonLabel(reason)}).Increment();
  spdlog::info("back_to_source task={} reason={}", options_.task_id, ReasonLabel(reason));
  sv1::AnnouncePeerRequest req;
  req.mutable_back_to_source_started()->set_reason(reason);
  Send(req);
  // Also when the length came from the scheduler: the origin's own length
  // must agree before any byte is taken from it (OnProbeResult), or a
  // wrong length would silently cut the file short or pad it.
  SubmitProbe();
}

void Download::Impl::RequestMoreParents(bool after_failure) {
  if (origin_mode_ && !after_failure) {
    return;
  }
  if (!scheduler_) {
    // Without a stream (and none being opened), nobody can name new parents.
    if (after_failure && UsableParents() == 0 && !scheduler_connecting_) {
      GoBackToSource(cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER);
    }
    return;
  }
  if (after_failure) {
    if (reschedules_ >= deps_.config.max_reschedules) {
      if (UsableParents() == 0) {
        GoBackToSource(cv1::BACK_TO_SOURCE_REASON_PARENT_FAILURES);
      }
      return;
    }
    ++reschedules_;
  }
  if (reschedule_pending_) {
    return;
  }
  reschedule_pending_ = true;
  last_more_parents_request_ = Now();
  sv1::AnnouncePeerRequest req;
  for (const auto& id : blocked_parents_) {
    req.mutable_reschedule()->add_blocked_parent_ids(id);
  }
  req.mutable_reschedule();
  Send(req);
}

}  // namespace feilong::daemon
