#include "load_peers.h"

#include <deque>

namespace feilong::loadgen {

class Launcher;

// One simulated download: one AnnouncePeer stream.
class PeerCall final
    : public grpc::ClientBidiReactor<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse> {
 public:
  PeerCall(Launcher& launcher, v1::Scheduler::Stub& stub, uint32_t index);
  void Start();

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  enum class Tag : uint8_t { kOther, kContentLength, kLast };
  struct Outgoing {
    v1::AnnouncePeerRequest request;
    Tag tag;
  };

  // Requires mutex_.
  void Queue(v1::AnnouncePeerRequest request, Tag tag);
  void StartNextWrite();
  void OnDecision(const v1::ScheduleDecision& decision);
  void ReportReadyPieces();
  void Finish();

  Launcher& launcher_;
  v1::Scheduler::Stub& stub_;
  const uint32_t index_;
  const uint32_t task_;
  grpc::ClientContext context_;
  v1::AnnouncePeerResponse response_;

  // Recursive: a reaction could run inline from a Start* made under it.
  std::recursive_mutex mutex_;
  std::deque<Outgoing> queue_;  // front() is in flight while writing_
  bool writing_ = false;
  bool write_failed_ = false;
  bool finish_queued_ = false;
  bool decided_ = false;
  bool normal_ = false;
  bool held_ = false;  // registered before its task had a ready parent
  Clock::time_point started_;
  std::vector<std::string> parents_;
  std::vector<bool> digest_known_;
  std::vector<bool> reported_;
  uint32_t reported_count_ = 0;
};

PeerCall::PeerCall(Launcher& launcher, v1::Scheduler::Stub& stub, uint32_t index)
    : launcher_(launcher),
      stub_(stub),
      index_(index),
      task_(launcher.fleet().TaskOf(index)),
      digest_known_(launcher.options().pieces),
      reported_(launcher.options().pieces) {}

void PeerCall::Start() {
  const Fleet& fleet = launcher_.fleet();
  TaskClock& clock = launcher_.task(task_);
  bool first = !clock.registered.exchange(true);
  held_ = !first && clock.ready_ns.load() == 0;
  context_.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(launcher_.options().timeout_s));
  v1::AnnouncePeerRequest request;
  v1::Register* reg = request.mutable_register_();
  reg->set_task_id(fleet.TaskId(task_));
  reg->set_peer_id(fleet.PeerId(index_));
  *reg->mutable_host() = fleet.Host(fleet.HostOf(index_));
  *reg->mutable_spec() = fleet.Spec(task_);
  started_ = Clock::now();
  stub_.async()->AnnouncePeer(&context_, this);
  StartRead(&response_);
  {
    std::lock_guard lock(mutex_);
    Queue(std::move(request), Tag::kOther);
  }
  StartCall();
}

void PeerCall::Queue(v1::AnnouncePeerRequest request, Tag tag) {
  queue_.push_back(Outgoing{std::move(request), tag});
  if (!writing_ && !write_failed_) {
    StartNextWrite();
  }
}

void PeerCall::StartNextWrite() {
  writing_ = true;
  Outgoing& next = queue_.front();
  if (next.tag == Tag::kLast) {
    StartWriteLast(&next.request, grpc::WriteOptions());
  } else {
    StartWrite(&next.request);
  }
}

void PeerCall::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  Outgoing& done = queue_.front();
  if (!ok) {
    // The stream broke; the read fails too and OnDone reports the status.
    write_failed_ = true;
    writing_ = false;
    queue_.clear();
    return;
  }
  launcher_.stats().messages_sent.fetch_add(1, std::memory_order_relaxed);
  if (done.request.has_piece_finished()) {
    launcher_.stats().piece_reports.fetch_add(1, std::memory_order_relaxed);
  }
  if (done.tag == Tag::kContentLength) {
    int64_t expected = 0;
    launcher_.task(task_).ready_ns.compare_exchange_strong(expected, NowNs());
  }
  queue_.pop_front();
  writing_ = false;
  if (!queue_.empty()) {
    StartNextWrite();
  }
}

void PeerCall::OnReadDone(bool ok) {
  if (!ok) {
    return;  // the scheduler ended the stream; OnDone follows
  }
  {
    std::lock_guard lock(mutex_);
    if (response_.has_decision()) {
      OnDecision(response_.decision());
    } else if (response_.has_piece_digests()) {
      launcher_.stats().digest_messages.fetch_add(1, std::memory_order_relaxed);
      for (const cv1::PieceDigest& digest : response_.piece_digests().pieces()) {
        if (digest.number() < digest_known_.size()) {
          if (digest.sha256() != Fleet::Digest(task_, digest.number())) {
            launcher_.stats().Error("wrong digest pushed");
          }
          digest_known_[digest.number()] = true;
        }
      }
      if (normal_) {
        ReportReadyPieces();
      }
    }
  }
  response_.Clear();
  StartRead(&response_);
}

void PeerCall::OnDecision(const v1::ScheduleDecision& decision) {
  Stats& stats = launcher_.stats();
  std::string kind = v1::ScheduleDecision::Kind_Name(decision.kind());
  if (decision.kind() == v1::ScheduleDecision::KIND_BACK_TO_SOURCE) {
    kind += "/" + cv1::BackToSourceReason_Name(decision.reason());
  }
  if (decided_) {
    stats.Error("unexpected second decision " + kind);
    return;
  }
  decided_ = true;
  Clock::time_point now = Clock::now();
  double latency = Millis(now - started_);
  int64_t ready_ns = launcher_.task(task_).ready_ns.load();
  {
    std::lock_guard lock(stats.mutex);
    ++stats.decisions[kind];
    stats.latency_all_ms.push_back(latency);
    if (held_) {
      stats.latency_held_ms.push_back(latency);
      if (ready_ns != 0) {
        stats.release_ms.push_back(static_cast<double>(NowNs() - ready_ns) / 1e6);
      }
    } else {
      stats.latency_immediate_ms.push_back(latency);
    }
  }
  const uint32_t pieces = launcher_.options().pieces;
  if (decision.kind() == v1::ScheduleDecision::KIND_BACK_TO_SOURCE) {
    // A daemon fetching from the origin: announce it, the geometry, then each
    // piece with its digest and no parent.
    v1::AnnouncePeerRequest started;
    started.mutable_back_to_source_started()->set_reason(decision.reason());
    Queue(std::move(started), Tag::kOther);
    v1::AnnouncePeerRequest known;
    known.mutable_content_length_known()->set_content_length(launcher_.fleet().ContentLength());
    known.mutable_content_length_known()->set_piece_length(launcher_.options().piece_length);
    Queue(std::move(known), Tag::kContentLength);
    for (uint32_t n = 0; n < pieces; ++n) {
      v1::AnnouncePeerRequest piece;
      v1::PieceFinished* finished = piece.mutable_piece_finished();
      finished->set_number(n);
      finished->set_sha256(Fleet::Digest(task_, n));
      finished->set_cost_us(1000);
      Queue(std::move(piece), Tag::kOther);
    }
    reported_count_ = pieces;
    Finish();
    return;
  }
  if (decision.kind() != v1::ScheduleDecision::KIND_NORMAL) {
    stats.Error("unexpected decision " + kind);
    context_.TryCancel();
    return;
  }
  if (decision.content_length() != launcher_.fleet().ContentLength() ||
      decision.piece_length() != launcher_.options().piece_length) {
    stats.Error("wrong content or piece length in a decision");
  }
  if (decision.parents().empty()) {
    stats.Error("KIND_NORMAL without parents");
    context_.TryCancel();
    return;
  }
  for (const v1::CandidateParent& parent : decision.parents()) {
    parents_.push_back(parent.peer_id());
  }
  normal_ = true;
  ReportReadyPieces();
}

void PeerCall::ReportReadyPieces() {
  for (uint32_t n = 0; n < reported_.size(); ++n) {
    if (reported_[n] || !digest_known_[n]) {
      continue;
    }
    reported_[n] = true;
    ++reported_count_;
    v1::AnnouncePeerRequest piece;
    v1::PieceFinished* finished = piece.mutable_piece_finished();
    finished->set_number(n);
    finished->set_parent_id(parents_[n % parents_.size()]);
    finished->set_sha256(Fleet::Digest(task_, n));
    finished->set_cost_us(1000);
    Queue(std::move(piece), Tag::kOther);
  }
  if (reported_count_ == reported_.size()) {
    Finish();
  }
}

void PeerCall::Finish() {
  if (finish_queued_) {
    return;
  }
  finish_queued_ = true;
  v1::AnnouncePeerRequest done;
  done.mutable_download_finished();
  Queue(std::move(done), Tag::kLast);
}

void PeerCall::OnDone(const grpc::Status& status) {
  Stats& stats = launcher_.stats();
  bool complete;
  bool decided;
  {
    std::lock_guard lock(mutex_);
    complete = finish_queued_ && !write_failed_ && queue_.empty();
    decided = decided_;
  }
  if (!status.ok()) {
    stats.Error("AnnouncePeer ended with " + std::to_string(status.error_code()) + " (" +
                status.error_message() + ")");
    stats.peers_failed.fetch_add(1);
  } else if (!decided) {
    stats.Error("AnnouncePeer ended OK without a decision");
    stats.peers_failed.fetch_add(1);
  } else if (!complete) {
    stats.Error("AnnouncePeer ended OK before every report was written");
    stats.peers_failed.fetch_add(1);
  } else {
    stats.peers_ok.fetch_add(1);
  }
  Launcher& launcher = launcher_;
  delete this;
  launcher.PeerDone();
}

void Launcher::RunPeers() {
  for (uint32_t i = 0; i < options_.peers; ++i) {
    {
      std::unique_lock lock(mutex_);
      slots_.wait(lock, [&] { return active_ < options_.concurrency; });
      ++active_;
    }
    (new PeerCall(*this, stub(i), i))->Start();
  }
  std::unique_lock lock(mutex_);
  slots_.wait(lock, [&] { return active_ == 0; });
}

}  // namespace feilong::loadgen
