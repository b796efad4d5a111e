// The origin side of a download: probing the origin, fetching pieces and
// runs of pieces from it, retrying them, and the whole-body fallback for
// origins that ignore Range. Same conductor thread as download.cc.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/retry.h"
#include "daemon/daemon_config.h"
#include "daemon/download/conductor_rules.h"
#include "daemon/download/download_impl.h"
#include "daemon/download/piece_picker.h"
#include "source/url.h"

namespace feilong::daemon {

namespace cv1 = feilong::common::v1;
namespace sv1 = feilong::scheduler::v1;
using namespace conductor;  // NOLINT(google-build-using-namespace): the conductor's own events

namespace {

// A download with no parent asks the origin for runs of consecutive pieces
// up to this size in one request: a 1 MiB range per request pays a TCP slow
// start and a round trip per piece, and leaves the origin's link idle
// between requests.
constexpr uint64_t kOriginSpanBytes = 16ULL << 20;

}  // namespace

void Download::Impl::DispatchToOrigin(const std::vector<bool>& verifiable) {
  if (!origin_mode_ || done_ || whole_body_mode_ || probing_ || probe_wanted_) {
    return;  // nothing is fetched before the probe confirmed the length
  }
  const TimePoint now = Now();
  // Pieces in flight or waiting for their retry time are not picked.
  std::vector<bool> busy = in_flight_;
  for (size_t n = 0; n < busy.size(); ++n) {
    if (origin_retry_at_[n] > now) {
      busy[n] = true;
    }
  }
  // Pieces a usable parent holds and we can verify are left to it: peers
  // sent to the origin together (their complete parent gone) then take from
  // each other what one of them already fetched, instead of fetching it
  // again.
  // A parent in its busy backoff, or the pieces it just refused, are not
  // left to it: nobody would fetch them until it relents.
  std::vector<std::vector<bool>> masked;
  masked.reserve(parents_.size());  // `views` points into it
  std::vector<PickerParent> views;
  for (auto& [id, parent] : parents_) {
    if (blocked_parents_.count(id) || deps_.parent_gate.IsOpen(parent.gate_key) ||
        parent.busy_until > now) {
      continue;
    }
    const std::vector<bool>* has = &parent.has;
    if (!parent.refused.empty()) {
      masked.push_back(parent.has);
      for (const auto& [number, until] : parent.refused) {
        if (until > now && number < masked.back().size()) {
          masked.back()[number] = false;
        }
      }
      has = &masked.back();
    }
    views.push_back({has, parent.in_flight});
  }
  // Without parents, pieces come in order: take the run that follows.
  const uint32_t span_limit = static_cast<uint32_t>(
      std::max<uint64_t>(1, kOriginSpanBytes / std::max<uint64_t>(1, meta_.piece_length)));
  const uint32_t limit = TransferLimit();
  while (TransfersInFlight() < limit &&
         origin_requests_ < deps_.config.back_to_source_concurrency) {
    auto piece = PickFromOrigin(PickerInput{held_, busy, verifiable, views, picker_spread_});
    if (!piece) {
      return;
    }
    const uint32_t count =
        views.empty()
            ? OriginRunLength(PickerInput{held_, busy, verifiable, views}, *piece, span_limit)
            : 1;
    auto pass = deps_.origin_gate.TryEnter(origin_host_);
    if (!pass.ok()) {
      if (pass.status().code() == StatusCode::kUnavailable) {
        // The host's circuit is open: that counts as this piece's attempt,
        // so a download facing a dead origin fails in bounded time.
        ++origin_attempts_[*piece];
        OnOriginPieceFailure(*piece, pass.status());
      }
      WaitForOriginSlot();  // at the host's cap
      return;
    }
    std::fill_n(busy.begin() + *piece, count, true);
    SubmitOriginFetch(*piece, count, std::move(*pass));
  }
}

void Download::Impl::SubmitOriginFetch(uint32_t first, uint32_t count,
                                       std::unique_ptr<HostGate::Pass> pass) {
  for (uint32_t n = first; n < first + count; ++n) {
    in_flight_[n] = true;
    ++origin_attempts_[n];
  }
  in_flight_count_ += count;
  origin_pieces_ += count;
  ++origin_requests_;
  origin_span_end_[first + count - 1] = true;
  deps_.transfers.FetchFromOrigin(mailbox_, meta_, OriginSpan{first, count, {}}, OriginRequest(),
                                  std::move(pass));
}

void Download::Impl::WaitForOriginSlot() {
  if (waiting_for_origin_slot_) {
    return;
  }
  waiting_for_origin_slot_ = true;
  deps_.origin_gate.WhenFree(origin_host_,
                             [mailbox = mailbox_] { mailbox->Post(OriginSlotFreed{}); });
}

void Download::Impl::OnOriginPieceFailure(uint32_t number, const Status& status) {
  const RetryPolicy& policy = deps_.config.origin_retry;
  RetryVerdict verdict = JudgeOriginFailure(status, origin_attempts_[number], policy,
                                            /*corruption_retryable=*/true, rng_);
  if (verdict.give_up) {
    Finish(status.WithContext(fmt::format("piece {} from origin {} (attempt {} of {})", number,
                                          source::RedactUrl(options_.spec.url()),
                                          origin_attempts_[number], policy.max_attempts)));
    return;
  }
  origin_retry_at_[number] = Now() + verdict.delay;
  spdlog::info("origin_piece_retry task={} piece={} attempt={} delay_ms={} error=\"{}\"",
               options_.task_id, number, origin_attempts_[number],
               std::chrono::duration_cast<std::chrono::milliseconds>(verdict.delay).count(),
               status.message());
}

void Download::Impl::SubmitProbe() {
  if (probing_ || done_) {
    return;
  }
  probe_wanted_ = true;
  if (Now() < probe_retry_at_) {
    return;  // Dispatch calls again
  }
  auto pass = deps_.origin_gate.TryEnter(origin_host_);
  if (!pass.ok()) {
    if (pass.status().code() == StatusCode::kUnavailable) {
      ++probe_attempts_;
      OnProbeFailure(pass.status());
    } else {
      WaitForOriginSlot();  // at the host's cap
    }
    return;
  }
  probe_wanted_ = false;
  probing_ = true;
  ++probe_attempts_;
  deps_.transfers.Probe(mailbox_, OriginRequest(), std::move(*pass));
}

void Download::Impl::OnProbeFailure(const Status& status) {
  RetryVerdict verdict = JudgeOriginFailure(status, probe_attempts_, deps_.config.origin_retry,
                                            /*corruption_retryable=*/false, rng_);
  if (verdict.give_up) {
    probe_wanted_ = false;
    Finish(status.WithContext("origin " + source::RedactUrl(options_.spec.url())));
    return;
  }
  probe_retry_at_ = Now() + verdict.delay;
  probe_wanted_ = true;
  spdlog::info("origin_probe_retry task={} attempt={} delay_ms={} error=\"{}\"", options_.task_id,
               probe_attempts_,
               std::chrono::duration_cast<std::chrono::milliseconds>(verdict.delay).count(),
               status.message());
}

source::SourceRequest Download::Impl::OriginRequest() const {
  source::SourceRequest request;
  request.url = options_.spec.url();
  request.stall_timeout = deps_.config.origin_stall_timeout;
  for (const auto& [name, value] : options_.spec.request_headers()) {
    request.headers.emplace_back(name, value);
  }
  return request;
}

void Download::Impl::OnProbeResult(const ProbeResult& result) {
  probing_ = false;
  if (!result.status.ok()) {
    OnProbeFailure(result.status);
    return;
  }
  if (!geometry_known_) {
    Status s = LearnGeometry(result.content_length, 0);
    if (!s.ok()) {
      Finish(s);
      return;
    }
  } else if (meta_.content_length != result.content_length) {
    Finish(Status::FailedPrecondition(fmt::format(
        "origin {} has {} bytes but the task has {}: the content changed at the origin, or "
        "a peer reported a wrong length",
        source::RedactUrl(options_.spec.url()), result.content_length, meta_.content_length)));
    return;
  }
  sv1::AnnouncePeerRequest req;
  req.mutable_content_length_known()->set_content_length(meta_.content_length);
  req.mutable_content_length_known()->set_piece_length(meta_.piece_length);
  Send(req);
  if (!result.range_supported && held_count_ < held_.size()) {
    SubmitWholeBodyFetch();
  }
}

void Download::Impl::SubmitWholeBodyFetch() {
  // The origin ignores Range: read the body once, cutting it into pieces.
  whole_body_mode_ = true;
  uint32_t last = 0;
  for (uint32_t n = 0; n < held_.size(); ++n) {
    if (!held_[n]) {
      in_flight_[n] = true;
      ++in_flight_count_;
      ++origin_pieces_;
      last = n;
    }
  }
  ++origin_requests_;
  origin_span_end_[last] = true;
  // The one whole-body request is let through even at the host's cap (it
  // replaces this download's per-piece requests); an open circuit still
  // counts against it when it fails.
  auto pass = deps_.origin_gate.TryEnter(origin_host_);
  std::shared_ptr<HostGate::Pass> shared_pass;
  if (pass.ok()) {
    shared_pass = std::move(*pass);
  }
  deps_.transfers.FetchFromOrigin(mailbox_, meta_,
                                  OriginSpan{0, static_cast<uint32_t>(held_.size()), held_},
                                  OriginRequest(), std::move(shared_pass));
}

}  // namespace feilong::daemon
