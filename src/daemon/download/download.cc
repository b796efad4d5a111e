#include "daemon/download/download.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/retry.h"
#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/conductor_rules.h"
#include "daemon/download/download_events.h"
#include "daemon/download/download_impl.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/output.h"
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

// How often a download may ask for more parents (see parent_demand.h), and
// how long it stays underfed before that counts.
constexpr auto kMoreParentsInterval = std::chrono::seconds(1);

}  // namespace

// ---------------------------------------------------------------------------

Download::Impl::Impl(DownloadDeps deps, DownloadRequestOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      strand_(deps_.strands.NewStrand()),
      mailbox_(std::make_shared<Mailbox>()),
      rng_(deps_.random_seed()) {
  peer_id_ = fmt::format("{}-{:016x}", deps_.config.host_id, rng_());
  private_task_ = options_.private_task;
  origin_host_ = OriginHostKey(options_.spec.url());
  picker_spread_ = rng_() | 1;
  last_progress_ = Now();
}

Download::Impl::~Impl() {
  // Transfers still running for us stop at their next write.
  mailbox_->cancelled = true;
}

void Download::Impl::Init() {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::shared_ptr<Strand> strand = strand_;
  mailbox_->deliver = [weak, strand](Event event) {
    auto boxed = std::make_shared<Event>(std::move(event));
    strand->Post([weak, boxed] {
      if (auto self = weak.lock()) {
        self->OnEvent(*boxed);
      }
    });
  };
  deadline_timer_ = strand_->NewTimer([weak] {
    if (auto self = weak.lock()) {
      self->Finish(Status::DeadlineExceeded(fmt::format("download did not finish within {} s",
                                                        self->options_.timeout.count() / 1000)));
    }
  });
  wake_timer_ = strand_->NewTimer([weak] {
    if (auto self = weak.lock()) {
      self->Step();
    }
  });
}

void Download::Impl::Start(std::function<void()> on_ended) {
  deps_.metrics.active_downloads.Add(1);
  strand_->Post([self = shared_from_this(), on_ended = std::move(on_ended)] {
    self->on_ended_ = on_ended;
    self->transfer_share_ = self->deps_.transfer_budget.Join();
    self->deadline_timer_->ArmAt(self->Now() + self->options_.timeout);
    self->deps_.hub.BeginTask(self->options_.task_id);
    self->Begin();
    self->Step();
  });
}

bool Download::Impl::Attach(DownloadWaiter waiter) {
  std::lock_guard lock(door_mutex_);
  if (!accepting_) {
    return false;
  }
  mailbox_->Post(WaiterAttached{std::move(waiter)});
  return true;
}

void Download::Impl::Cancel() {
  mailbox_->cancelled = true;
  strand_->Post([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->Finish(Status::Cancelled("download of task " + self->options_.task_id + " cancelled"));
    }
  });
}

bool Download::Impl::ended() const {
  std::lock_guard lock(door_mutex_);
  return ended_;
}

void Download::Impl::OnEvent(Event& event) {
  if (done_) {
    // Only the end matters now: late waiters and outputs being written.
    if (auto* attached = std::get_if<WaiterAttached>(&event)) {
      ServeWaiter(std::move(attached->waiter));
    } else if (std::holds_alternative<WaiterServed>(event)) {
      --outputs_in_progress_;
      MaybeEnd();
    }
    return;  // anything else, a stream opened late included, is dropped
  }
  Handle(event);
  Step();
}

void Download::Impl::Step() {
  if (done_) {
    return;
  }
  if (mailbox_->cancelled.load()) {
    Finish(Status::Cancelled("download of task " + options_.task_id + " cancelled"));
    return;
  }
  Dispatch();
  CheckStall();
  if (!done_ && geometry_known_ && held_count_ == held_.size()) {
    CheckContent();
  }
  if (!done_) {
    ArmWake();
  }
}

void Download::Impl::ArmWake() {
  // The earliest moment a rule of the conductor is due; events in between
  // call Step anyway.
  const TimePoint now = Now();
  std::optional<TimePoint> wake;
  auto consider = [&](TimePoint t) {
    if (t > now && (!wake || t < *wake)) {
      wake = t;
    }
  };
  if (first_decision_seen_ && !origin_mode_) {
    consider(last_progress_ + deps_.config.p2p_stall_timeout + std::chrono::milliseconds(1));
    if (geometry_known_ && !reschedule_pending_) {
      TimePoint asked = last_more_parents_request_ + kMoreParentsInterval;
      if (UsableParents() < deps_.config.parent_wanted) {
        consider(std::max(asked, now) + std::chrono::milliseconds(1));
      } else if (underfed_since_) {
        consider(std::max(asked, *underfed_since_ + kMoreParentsInterval) +
                 std::chrono::milliseconds(1));
      }
    }
  }
  for (const auto& [id, parent] : parents_) {
    consider(parent.busy_until);
    for (const auto& [number, until] : parent.refused) {
      consider(until);
    }
  }
  if (origin_mode_) {
    for (size_t n = 0; n < origin_retry_at_.size(); ++n) {
      if (!held_[n] && !in_flight_[n]) {
        consider(origin_retry_at_[n]);
      }
    }
  }
  if (probe_wanted_) {
    consider(probe_retry_at_);
  }
  if (starved_check_at_) {
    consider(*starved_check_at_);
  }
  if (wake) {
    wake_timer_->ArmAt(*wake);
  } else {
    wake_timer_->Cancel();
  }
}

void Download::Impl::CheckContent() {
  if (checking_content_ || done_) {
    return;
  }
  if (options_.spec.digest().empty()) {
    Finish(Status::Ok());
    return;
  }
  checking_content_ = true;
  auto want = ParseSha256String(options_.spec.digest());
  if (!want.ok()) {
    Finish(want.status());
    return;
  }
  std::string path = deps_.store.ContentPath(options_.task_id);
  std::string url = source::RedactUrl(options_.spec.url());
  std::string digest = options_.spec.digest();
  bool submitted =
      deps_.transfers.RunBlocking([mailbox = mailbox_, path, url, digest, want = *want] {
        Status status;
        auto got = Sha256File(path);
        if (!got.ok()) {
          status = got.status();
        } else if (*got != want) {
          status = Status::Corruption(fmt::format("content of {} has digest {}, expected {}", url,
                                                  Sha256String(*got), digest));
        }
        mailbox->Post(ContentChecked{std::move(status)});
      });
  if (!submitted) {
    Finish(Status::Cancelled("daemon is shutting down"));
  }
}

void Download::Impl::Begin() {
  auto existing = deps_.store.GetTask(options_.task_id);
  if (existing.ok()) {
    Status s = LearnGeometry(existing->content_length, existing->piece_length);
    if (!s.ok()) {
      Finish(s);
      return;
    }
    from_cache_ = completed_length_;
    if (held_count_ == held_.size()) {
      deps_.metrics.cache_hits.Increment();
      deps_.store.Touch(options_.task_id).ok();
      // A complete task was checked when it completed; every piece held
      // but never marked complete (a crash in between) is checked now.
      if (existing->complete) {
        Finish(Status::Ok());
      } else {
        CheckContent();
      }
      return;
    }
  }
  if (deps_.config.schedulers.empty()) {
    GoBackToSource(cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER);
    return;
  }
  ConnectScheduler();
}

void Download::Impl::Handle(Event& event) {
  std::visit(
      [&](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, SchedulerOpened>) {
          OnSchedulerOpened(e);
        } else if constexpr (std::is_same_v<T, SchedulerMessage>) {
          if (e.generation == scheduler_generation_) {
            OnSchedulerMessage(e.message);
          }
        } else if constexpr (std::is_same_v<T, SchedulerClosed>) {
          OnSchedulerClosed(e);
        } else if constexpr (std::is_same_v<T, PieceResult>) {
          OnPieceResult(e);
        } else if constexpr (std::is_same_v<T, ParentPieces>) {
          auto it = parents_.find(e.parent_id);
          if (it != parents_.end() && geometry_known_) {
            for (uint32_t n : e.numbers) {
              if (n < it->second.has.size()) {
                it->second.has[n] = true;
              }
            }
          }
        } else if constexpr (std::is_same_v<T, ParentEnded>) {
          if (e.status.ok()) {
            auto it = parents_.find(e.parent_id);
            if (it != parents_.end()) {
              it->second.watcher.reset();  // it holds all it will; keep using it
            }
          } else {
            spdlog::info("parent_lost task={} parent={} error=\"{}\"", options_.task_id,
                         e.parent_id, e.status.message());
            DropParent(e.parent_id, /*block=*/true);
          }
        } else if constexpr (std::is_same_v<T, ProbeResult>) {
          OnProbeResult(e);
        } else if constexpr (std::is_same_v<T, WaiterAttached>) {
          waiters_.push_back(std::move(e.waiter));
          waiters_.back().on_progress(Snapshot());
        } else if constexpr (std::is_same_v<T, OriginSlotFreed>) {
          waiting_for_origin_slot_ = false;  // Step, right after, asks again
        } else if constexpr (std::is_same_v<T, ContentChecked>) {
          if (e.status.IsCorruption()) {
            content_corrupt_ = true;
          }
          Finish(e.status);
        }
      },
      event);
}

Status Download::Impl::LearnGeometry(uint64_t content_length, uint32_t piece_length) {
  if (piece_length == 0) {
    piece_length = options_.spec.piece_length() != 0 ? options_.spec.piece_length()
                                                     : source::DefaultPieceLength(content_length);
  }
  storage::TaskMeta meta;
  meta.task_id = options_.task_id;
  meta.url = source::RedactUrl(options_.spec.url());
  meta.content_length = content_length;
  meta.piece_length = piece_length;
  meta.private_task = private_task_;
  meta.grant_key = grant_key_;
  FL_RETURN_IF_ERROR(deps_.store.CreateTask(meta));
  FL_ASSIGN_OR_RETURN(meta_, deps_.store.GetTask(options_.task_id));
  FL_ASSIGN_OR_RETURN(pin_, deps_.store.Pin(options_.task_id));
  uint32_t count = meta_.PieceCount();
  held_.assign(count, false);
  in_flight_.assign(count, false);
  origin_attempts_.assign(count, 0);
  origin_retry_at_.assign(count, TimePoint{});
  origin_span_end_.assign(count, false);
  digests_.resize(count);
  for (auto& [id, parent] : parents_) {
    parent.has.resize(count, false);
  }
  FL_ASSIGN_OR_RETURN(auto pieces, deps_.store.ListPieces(options_.task_id));
  for (const auto& piece : pieces) {
    if (piece.number < count && !held_[piece.number]) {
      held_[piece.number] = true;
      ++held_count_;
      completed_length_ += piece.length;
      digests_[piece.number] = piece.digest;
    }
  }
  geometry_known_ = true;
  return Status::Ok();
}

void Download::Impl::CheckStall() {
  if (done_ || !first_decision_seen_ || origin_mode_) {
    return;
  }
  const TimePoint now = Now();
  if (uint64_t received = mailbox_->bytes_received.load(); received != bytes_seen_) {
    // Bytes arriving are progress: a piece that takes long on a busy link
    // is not a stall (busy answers, which carry no piece bytes, are not).
    bytes_seen_ = received;
    last_progress_ = now;
  }
  if (starved_check_at_ && now >= *starved_check_at_) {
    starved_check_at_.reset();
    if (geometry_known_ && IsStarved()) {
      // The parents left after a block hold nothing we can take: ask for
      // others now (the scheduler may send us to the origin) instead of
      // idling until the stall timeout.
      spdlog::info("download_starved task={} parents={}", options_.task_id, UsableParents());
      reschedule_pending_ = false;
      RequestMoreParents(/*after_failure=*/true);
      if (done_ || origin_mode_) {
        return;
      }
    }
  }
  StallVerdict verdict =
      JudgeStall(StallInput{now, last_progress_, deps_.config.p2p_stall_timeout, reschedules_,
                            deps_.config.max_reschedules,
                            geometry_known_ && ParentsHaveMissingPieces(), geometry_known_});
  if (verdict != StallVerdict::kNone) {
    spdlog::info("download_stalled task={} parents={}", options_.task_id, UsableParents());
    last_progress_ = now;
    reschedule_pending_ = false;
    if (verdict == StallVerdict::kOrigin) {
      GoBackToSource(cv1::BACK_TO_SOURCE_REASON_PARENT_FAILURES);
    } else if (!scheduler_ && !scheduler_connecting_) {
      GoBackToSource(cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER);  // nobody to ask
    } else {
      RequestMoreParents(/*after_failure=*/true);
    }
    return;
  }
  if (!geometry_known_ || reschedule_pending_ ||
      now - last_more_parents_request_ <= kMoreParentsInterval) {
    return;
  }
  std::optional<std::chrono::milliseconds> underfed_for;
  if (underfed_since_) {
    underfed_for = std::chrono::duration_cast<std::chrono::milliseconds>(now - *underfed_since_);
  }
  if (WantsMoreParents(Demand(), underfed_for, kMoreParentsInterval)) {
    RequestMoreParents(/*after_failure=*/false);
  }
}

void Download::Impl::Finish(Status status) {
  if (done_) {
    return;
  }
  done_ = true;
  final_status_ = status;
  deadline_timer_->Cancel();
  wake_timer_->Cancel();
  // Transfers still running for us stop at their next write; their results
  // are dropped.
  mailbox_->cancelled = true;
  transfer_share_.reset();
  if (status.ok() && geometry_known_) {
    Status marked = deps_.store.MarkComplete(options_.task_id);
    if (!marked.ok()) {
      final_status_ = marked;
    }
  }
  sv1::AnnouncePeerRequest req;
  if (final_status_.ok()) {
    req.mutable_download_finished();
  } else {
    req.mutable_download_failed()->set_message(final_status_.message());
  }
  Send(req);
  scheduler_.reset();  // the stream closes once what was sent went out
  parents_.clear();
  deps_.hub.EndTask(options_.task_id);
  const char* result = final_status_.ok()                               ? "ok"
                       : final_status_.code() == StatusCode::kCancelled ? "cancelled"
                                                                        : "error";
  deps_.metrics.downloads.WithLabels({result}).Increment();
  spdlog::info(
      "download_ended task={} result={} bytes={} from_cache={} from_peers={} from_origin={} "
      "back_to_source_reason={}{}",
      options_.task_id, result, meta_.content_length, from_cache_, from_peers_, from_origin_,
      ReasonLabel(reason_),
      final_status_.ok() ? "" : " error=\"" + final_status_.ToString() + "\"");
  for (auto& waiter : waiters_) {
    ServeWaiter(std::move(waiter));
  }
  waiters_.clear();
  {
    std::lock_guard lock(door_mutex_);
    accepting_ = false;
  }
  // Waiters that attached before the door closed are queued behind this.
  strand_->Post([self = shared_from_this()] {
    self->drained_ = true;
    self->MaybeEnd();
  });
}

void Download::Impl::ServeWaiter(DownloadWaiter waiter) {
  DownloadProgress progress = Snapshot();
  progress.done = true;
  progress.status = final_status_;
  if (!final_status_.ok() || waiter.output_path.empty()) {
    waiter.on_progress(progress);
    return;
  }
  // Linking is quick; a copy across file systems is not, and must not hold
  // up other downloads on this loop.
  ++outputs_in_progress_;
  auto write = [mailbox = mailbox_, content = deps_.store.ContentPath(options_.task_id),
                waiter = std::make_shared<DownloadWaiter>(std::move(waiter)), progress] {
    DownloadProgress last = progress;
    last.status = WriteOutput(content, waiter->output_path, waiter->caller);
    waiter->on_progress(last);
    mailbox->Post(WaiterServed{});
  };
  if (!deps_.transfers.RunBlocking(write)) {
    write();  // the daemon is stopping: write it here rather than not at all
  }
}

void Download::Impl::MaybeEnd() {
  if (!done_ || !drained_ || outputs_in_progress_ > 0) {
    return;
  }
  {
    std::lock_guard lock(door_mutex_);
    if (ended_) {
      return;
    }
    ended_ = true;
  }
  pin_.reset();  // the task may be deleted or collected from now on
  if (content_corrupt_) {
    Status removed = deps_.store.DeleteTask(options_.task_id);
    spdlog::warn("corrupt_task_removed task={} result=\"{}\"", options_.task_id,
                 removed.ToString());
  }
  deps_.metrics.active_downloads.Add(-1);
  auto self = shared_from_this();  // on_ended may drop the last owner
  if (on_ended_) {
    on_ended_();
  }
}

void Download::Impl::NotifyAll() {
  if (waiters_.empty()) {
    return;
  }
  DownloadProgress progress = Snapshot();
  for (auto& waiter : waiters_) {
    waiter.on_progress(progress);
  }
}

DownloadProgress Download::Impl::Snapshot() const {
  DownloadProgress p;
  p.task_id = options_.task_id;
  p.content_length = meta_.content_length;
  p.content_length_known = geometry_known_;
  p.completed_length = completed_length_;
  p.bytes_from_cache = from_cache_;
  p.bytes_from_peers = from_peers_;
  p.bytes_from_origin = from_origin_;
  p.back_to_source_reason = reason_;
  p.parent_count = UsableParents();
  return p;
}

// ---------------------------------------------------------------------------

Download::Download(DownloadDeps deps, DownloadRequestOptions options)
    : task_id_(options.task_id),
      private_task_(options.private_task),
      impl_(std::make_shared<Impl>(std::move(deps), std::move(options))) {
  impl_->Init();
}

Download::~Download() = default;

bool Download::Attach(DownloadWaiter waiter) { return impl_->Attach(std::move(waiter)); }

void Download::Cancel() { impl_->Cancel(); }

void Download::Start(std::function<void()> on_ended) { impl_->Start(std::move(on_ended)); }

bool Download::ended() const { return impl_->ended(); }

}  // namespace feilong::daemon
