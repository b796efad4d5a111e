// A Download on a virtual clock (ManualLoop) against fakes of its seams:
// the scheduler link, the parents' piece feeds and the transfers. The store
// is real (a temporary directory), so pieces are written and checked as in
// the daemon. Nothing sleeps: time moves only when the test moves it.
#include "daemon/download/download.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/download_events.h"
#include "daemon/download/host_gate.h"
#include "daemon/download/parent_feed.h"
#include "daemon/download/scheduler_link.h"
#include "daemon/download/transfer_budget.h"
#include "daemon/download/transfers.h"
#include "daemon/upload/piece_hub.h"
#include "storage/piece_store.h"
#include "support/manual_loop.h"
#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

namespace sv1 = feilong::scheduler::v1;
using conductor::Mailbox;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kPieceLength = 64 * 1024;
constexpr uint32_t kPieces = 16;

class FakeStream final : public SchedulerStream {
 public:
  explicit FakeStream(std::vector<sv1::AnnouncePeerRequest>* sent) : sent_(sent) {}
  bool Send(const sv1::AnnouncePeerRequest& request) override {
    sent_->push_back(request);
    return true;
  }
  const std::string& address() const override { return address_; }

 private:
  std::vector<sv1::AnnouncePeerRequest>* sent_;
  std::string address_ = "scheduler.test:1";
};

// Opens streams only when the test says so; a pending open is a scheduler
// that does not answer (yet).
class FakeSchedulerLink final : public SchedulerLink {
 public:
  struct Pending {
    sv1::Register registration;
    OnMessage on_message;
    OnClosed on_closed;
    OnOpened on_opened;
  };
  void Open(const sv1::Register& registration, OnMessage on_message, OnClosed on_closed,
            OnOpened on_opened) override {
    opens.push_back(
        Pending{registration, std::move(on_message), std::move(on_closed), std::move(on_opened)});
  }
  // Answers the latest open with a stream.
  void Accept() {
    current = opens.back();
    current->on_opened(std::shared_ptr<SchedulerStream>(std::make_shared<FakeStream>(&sent)));
  }
  void Say(const sv1::AnnouncePeerResponse& message) { current->on_message(message); }
  void Drop(Status why) { current->on_closed(std::move(why)); }
  size_t Count(bool (sv1::AnnouncePeerRequest::*has)() const) const {
    size_t n = 0;
    for (const auto& r : sent) {
      n += (r.*has)() ? 1 : 0;
    }
    return n;
  }

  std::vector<Pending> opens;
  std::optional<Pending> current;
  std::vector<sv1::AnnouncePeerRequest> sent;
};

class FakeParentFeed final : public ParentFeed {
 public:
  std::unique_ptr<ParentSubscription> Watch(const sv1::CandidateParent& parent,
                                            const std::string& /*task_id*/,
                                            const std::string& /*my_peer_id*/,
                                            const std::string& /*grant*/, OnPieces on_pieces,
                                            OnEnd /*on_end*/) override {
    feeds[parent.peer_id()] = std::move(on_pieces);
    return std::make_unique<ParentSubscription>();
  }
  std::map<std::string, OnPieces> feeds;
};

// Parent fetches wait until the test completes them: it then writes the
// piece's true bytes into the store, as a piece client would.
class FakeTransfers final : public conductor::Transfers {
 public:
  FakeTransfers(storage::PieceStore& store, const std::string& content)
      : store_(store), content_(content) {}

  struct Fetch {
    std::shared_ptr<Mailbox> mailbox;
    conductor::ParentPieceRequest request;
    std::shared_ptr<HostGate::Pass> pass;
  };
  void FetchFromParent(std::shared_ptr<Mailbox> mailbox, conductor::ParentPieceRequest request,
                       std::shared_ptr<HostGate::Pass> pass) override {
    pending.push_back(Fetch{std::move(mailbox), std::move(request), std::move(pass)});
    ++parent_fetches;
  }
  void FetchFromOrigin(std::shared_ptr<Mailbox>, storage::TaskMeta, conductor::OriginSpan span,
                       source::SourceRequest, std::shared_ptr<HostGate::Pass>) override {
    ++origin_fetches;
    for (uint32_t n = span.first; n < span.first + span.count; ++n) {
      origin_pieces.push_back(n);
    }
  }
  void Probe(std::shared_ptr<Mailbox> mailbox, source::SourceRequest,
             std::shared_ptr<HostGate::Pass>) override {
    ++probes;
    probe_mailbox = std::move(mailbox);
  }
  // Answers the last probe: the origin has the content and serves ranges.
  void AnswerProbe() {
    conductor::ProbeResult result;
    result.content_length = content_.size();
    result.range_supported = true;
    probe_mailbox->Post(std::move(result));
  }
  bool RunBlocking(std::function<void()> job) override {
    job();
    return true;
  }

  // Completes the oldest pending fetch with the piece's bytes.
  void CompleteOne() {
    Fetch fetch = std::move(pending.front());
    pending.pop_front();
    const auto& r = fetch.request;
    conductor::PieceResult result{r.number, r.parent_id, Status::Ok(), {}, 0, {}};
    auto writer = store_.OpenPieceWriter(r.task_id, r.number);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    std::string_view piece(content_.data() + uint64_t{r.number} * kPieceLength, r.size);
    ASSERT_TRUE(
        (*writer)->Append({reinterpret_cast<const uint8_t*>(piece.data()), piece.size()}).ok());
    auto committed = (*writer)->Commit(r.expected);
    ASSERT_TRUE(committed.ok()) << committed.status().ToString();
    result.digest = *committed;
    result.bytes = r.size;
    fetch.mailbox->Post(std::move(result));
  }
  // Fails the oldest pending fetch with `status`.
  void FailOne(Status status) {
    Fetch fetch = std::move(pending.front());
    pending.pop_front();
    fetch.mailbox->Post(conductor::PieceResult{
        fetch.request.number, fetch.request.parent_id, std::move(status), {}, 0, {}});
  }
  // Answers the oldest pending fetch "busy: no slot free".
  void AnswerBusy() {
    Fetch fetch = std::move(pending.front());
    pending.pop_front();
    conductor::PieceResult result{fetch.request.number,
                                  fetch.request.parent_id,
                                  Status::Unavailable("parent busy"),
                                  {},
                                  0,
                                  {}};
    result.busy = PieceFetchResult::Busy::kParent;
    fetch.mailbox->Post(std::move(result));
  }

  std::deque<Fetch> pending;
  int parent_fetches = 0;
  int origin_fetches = 0;
  std::vector<uint32_t> origin_pieces;  // every piece asked of the origin
  int probes = 0;
  std::shared_ptr<Mailbox> probe_mailbox;

 private:
  storage::PieceStore& store_;
  const std::string& content_;
};

class DownloadTest : public ::testing::Test {
 protected:
  DownloadTest()
      : content_(test::RandomBytes(size_t{kPieces} * kPieceLength, 17)),
        store_(OpenStore(dir_.Path("store"))),
        metrics_(registry_),
        origin_gate_(HostGateConfig{{}, 0, "origin"}, loop_.clock()),
        parent_gate_(HostGateConfig{{}, 0, "parent"}, loop_.clock()),
        transfers_(*store_, content_) {
    config_.host_id = "child";
    config_.schedulers = {"scheduler.test:1"};
  }
  ~DownloadTest() override {
    loop_.RunUntilIdle();
    download_.reset();
  }

  static std::unique_ptr<storage::PieceStore> OpenStore(const std::string& dir) {
    storage::StoreOptions options;
    options.dir = dir;
    auto store = storage::PieceStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  // Starts a download of the test's content; its progress lands in
  // last_progress_.
  void StartDownload(milliseconds timeout = milliseconds(3600 * 1000)) {
    uint64_t seed = 1;
    DownloadDeps deps{*store_,
                      transfers_,
                      link_,
                      feed_,
                      hub_,
                      config_,
                      metrics_,
                      origin_gate_,
                      parent_gate_,
                      transfer_budget_,
                      [] { return sv1::Host(); },
                      loop_,
                      [seed]() mutable { return seed++; }};
    DownloadRequestOptions options;
    options.task_id = std::string(64, 'a');
    options.spec.set_url("http://origin.test/file");
    options.timeout = timeout;
    download_ = std::make_unique<Download>(deps, options);
    DownloadWaiter waiter;
    waiter.on_progress = [this](const DownloadProgress& p) { last_progress_ = p; };
    ASSERT_TRUE(download_->Attach(std::move(waiter)));
    download_->Start([this] { ended_ = true; });
    loop_.RunUntilIdle();
  }

  // The scheduler accepts the stream and names one parent holding every
  // piece, with every piece's digest.
  void AcceptWithParent(const std::string& parent_id) {
    ASSERT_FALSE(link_.opens.empty());
    link_.Accept();
    sv1::AnnouncePeerResponse digests;
    for (uint32_t n = 0; n < kPieces; ++n) {
      auto* piece = digests.mutable_piece_digests()->add_pieces();
      piece->set_number(n);
      Sha256Digest d =
          Sha256(std::string_view(content_).substr(uint64_t{n} * kPieceLength, kPieceLength));
      piece->set_sha256(std::string(d.begin(), d.end()));
    }
    link_.Say(digests);
    std::vector<uint32_t> all;
    for (uint32_t n = 0; n < kPieces; ++n) {
      all.push_back(n);
    }
    AddParent(parent_id, all, "10.0.0.2");
  }

  // The scheduler names one more parent, at `ip`, holding `pieces`.
  void AddParent(const std::string& parent_id, const std::vector<uint32_t>& pieces,
                 const std::string& ip = "10.0.0.3") {
    sv1::AnnouncePeerResponse decision;
    decision.mutable_decision()->set_kind(sv1::ScheduleDecision::KIND_NORMAL);
    decision.mutable_decision()->set_content_length(content_.size());
    decision.mutable_decision()->set_piece_length(kPieceLength);
    auto* parent = decision.mutable_decision()->add_parents();
    parent->set_peer_id(parent_id);
    parent->mutable_host()->set_ip(ip);
    parent->mutable_host()->set_piece_port(4000);
    link_.Say(decision);
    loop_.RunUntilIdle();
    if (!pieces.empty()) {
      feed_.feeds.at(parent_id)(pieces);
      loop_.RunUntilIdle();
    }
  }

  test::TempDir dir_;
  std::string content_;
  test::ManualLoop loop_;
  std::unique_ptr<storage::PieceStore> store_;
  metrics::Registry registry_;
  DaemonMetrics metrics_;
  DaemonConfig config_;
  HostGate origin_gate_;
  HostGate parent_gate_;
  TransferBudget transfer_budget_{4};
  PieceHub hub_;
  FakeSchedulerLink link_;
  FakeParentFeed feed_;
  FakeTransfers transfers_;
  std::unique_ptr<Download> download_;
  std::optional<DownloadProgress> last_progress_;
  bool ended_ = false;
};

TEST_F(DownloadTest, PiecesFromOneParentCompleteTheDownload) {
  StartDownload();
  AcceptWithParent("parent-1");
  while (!transfers_.pending.empty()) {
    transfers_.CompleteOne();
    loop_.AdvanceBy(milliseconds(5));
  }
  ASSERT_TRUE(ended_);
  ASSERT_TRUE(last_progress_ && last_progress_->done);
  EXPECT_TRUE(last_progress_->status.ok()) << last_progress_->status.ToString();
  EXPECT_EQ(last_progress_->bytes_from_peers, content_.size());
  EXPECT_EQ(last_progress_->bytes_from_origin, 0U);
  EXPECT_EQ(transfers_.probes, 0);
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_download_finished), 1U);
  auto stored = test::ReadFile(store_->ContentPath(std::string(64, 'a')));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, content_);
}

// Issue 17: a scheduler dying must cost a download with healthy parents no
// idle time. The new stream is opened beside the transfers: while the link
// has not answered (a dead address takes the whole connect timeout), every
// completed piece is followed at once by the next request.
TEST_F(DownloadTest, SchedulerLossCostsNoIdleTimeWhileParentsServe) {
  config_.concurrent_pieces = 2;
  config_.parent_max_in_flight = 2;
  StartDownload();
  AcceptWithParent("parent-1");
  ASSERT_EQ(transfers_.pending.size(), 2U);
  transfers_.CompleteOne();
  loop_.RunUntilIdle();

  link_.Drop(Status::Unavailable("scheduler went away"));
  loop_.RunUntilIdle();
  ASSERT_EQ(link_.opens.size(), 2U) << "the download must look for a scheduler again";
  const auto lost_at = loop_.Now();
  // The reconnect hangs; parents keep the download busy meanwhile.
  while (!transfers_.pending.empty()) {
    transfers_.CompleteOne();
    loop_.AdvanceBy(milliseconds(10));
    if (!ended_) {
      EXPECT_FALSE(transfers_.pending.empty())
          << "no piece requested after a completion at " << (loop_.Now() - lost_at).count();
    }
  }
  ASSERT_TRUE(ended_);
  EXPECT_TRUE(last_progress_->status.ok()) << last_progress_->status.ToString();
  EXPECT_EQ(last_progress_->bytes_from_peers, content_.size());
  EXPECT_EQ(transfers_.probes, 0) << "healthy parents: no reason to touch the origin";
  EXPECT_LT(loop_.Now() - lost_at, seconds(1));
}

// With other downloads running, a download runs only its share of the
// daemon's transfers (transfer_budget.h), and takes up more as they end.
TEST_F(DownloadTest, RunsItsShareOfTheDaemonsTransfers) {
  config_.concurrent_pieces = 4;
  config_.parent_max_in_flight = 4;
  auto other_downloads = std::vector<std::unique_ptr<TransferBudget::Share>>();
  other_downloads.push_back(transfer_budget_.Join());
  other_downloads.push_back(transfer_budget_.Join());
  other_downloads.push_back(transfer_budget_.Join());
  StartDownload();
  AcceptWithParent("parent-1");
  EXPECT_EQ(transfers_.pending.size(), 1U) << "4 transfers among 4 downloads";
  other_downloads.pop_back();
  other_downloads.pop_back();
  transfers_.CompleteOne();
  loop_.RunUntilIdle();
  EXPECT_EQ(transfers_.pending.size(), 2U) << "4 transfers among 2 downloads";
  other_downloads.clear();
  size_t completed = 1;
  while (!transfers_.pending.empty()) {
    transfers_.CompleteOne();
    ++completed;
    loop_.RunUntilIdle();
    if (!ended_) {
      EXPECT_EQ(transfers_.pending.size(), std::min<size_t>(4, kPieces - completed))
          << "alone: its own limit";
    }
  }
  ASSERT_TRUE(ended_);
  EXPECT_TRUE(last_progress_->status.ok()) << last_progress_->status.ToString();
  EXPECT_EQ(transfer_budget_.running(), 0U) << "the ended download left the budget";
}

// What the download reports while its new stream is being opened (pieces
// and their digests: a new scheduler learns them from nobody else) goes out
// on that stream once it is open.
TEST_F(DownloadTest, ReportsMadeWhileReconnectingReachTheNewScheduler) {
  config_.concurrent_pieces = 2;
  config_.parent_max_in_flight = 2;
  StartDownload();
  AcceptWithParent("parent-1");
  link_.Drop(Status::Unavailable("scheduler went away"));
  loop_.RunUntilIdle();
  ASSERT_EQ(link_.opens.size(), 2U);
  transfers_.CompleteOne();
  transfers_.CompleteOne();
  loop_.AdvanceBy(milliseconds(10));
  const size_t before = link_.sent.size();
  link_.Accept();
  loop_.RunUntilIdle();
  size_t finished = 0;
  for (size_t i = before; i < link_.sent.size(); ++i) {
    finished += link_.sent[i].has_piece_finished() ? 1 : 0;
  }
  EXPECT_EQ(finished, 2U);
}

TEST_F(DownloadTest, BusyParentIsAskedAgainWhenItsBackoffEnds) {
  config_.concurrent_pieces = 1;
  config_.parent_max_in_flight = 1;
  config_.parent_busy_backoff = milliseconds(100);
  StartDownload();
  AcceptWithParent("parent-1");
  ASSERT_EQ(transfers_.pending.size(), 1U);
  transfers_.AnswerBusy();
  loop_.RunUntilIdle();
  EXPECT_TRUE(transfers_.pending.empty()) << "a busy parent is left alone for its backoff";
  loop_.AdvanceBy(milliseconds(99));
  EXPECT_TRUE(transfers_.pending.empty());
  // The backoff is 100 ms plus up to 100 ms of jitter: by 200 ms the wake
  // timer has asked again, with no polling in between.
  loop_.AdvanceBy(milliseconds(101));
  EXPECT_EQ(transfers_.pending.size(), 1U);
}

TEST_F(DownloadTest, StalledParentsLeadToARescheduleAtTheStallTimeout) {
  config_.p2p_stall_timeout = seconds(10);
  config_.parent_wanted = 1;  // content with its one parent until it stalls
  StartDownload();
  AcceptWithParent("parent-1");
  ASSERT_FALSE(transfers_.pending.empty());  // requested, never answered
  loop_.AdvanceBy(seconds(10));
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_reschedule), 0U);
  loop_.AdvanceBy(milliseconds(2));
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_reschedule), 1U)
      << "a stalled download asks for other parents once the stall timeout passed";
  EXPECT_EQ(transfers_.probes, 0);
}

// Issue 17: a parent blocked for bad bytes, leaving only parents that hold
// nothing we can take, leads to a new source within a second (not the
// stall timeout), and the scheduler's "back to source" is then followed
// even though such useless parents remain.
TEST_F(DownloadTest, BlockingTheOnlyUsefulParentFindsANewSourceWithinASecond) {
  config_.p2p_stall_timeout = seconds(10);
  // Two useless parents left make 2 x wanted: the underfed rule
  // (parent_demand.h) stays quiet, only the starved check can ask.
  config_.parent_wanted = 1;
  config_.concurrent_pieces = 1;
  StartDownload();
  AcceptWithParent("rotten");
  AddParent("sibling-1", {});  // they wait for the same pieces we do
  AddParent("sibling-2", {});
  ASSERT_EQ(transfers_.pending.size(), 1U);
  ASSERT_EQ(transfers_.pending.front().request.parent_id, "rotten");
  const auto blocked_at = loop_.Now();
  transfers_.FailOne(Status::Corruption("piece digest mismatch"));
  loop_.RunUntilIdle();
  const size_t reschedules_before = link_.Count(&sv1::AnnouncePeerRequest::has_reschedule);
  loop_.AdvanceBy(milliseconds(990));
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_reschedule), reschedules_before);
  loop_.AdvanceBy(milliseconds(20));
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_reschedule), reschedules_before + 1)
      << "starved after a block: ask for other parents within a second";
  sv1::AnnouncePeerResponse to_origin;
  to_origin.mutable_decision()->set_kind(sv1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  link_.Say(to_origin);
  loop_.RunUntilIdle();
  EXPECT_EQ(transfers_.probes, 1) << "the siblings hold nothing: the origin is the new source";
  EXPECT_LT(loop_.Now() - blocked_at, seconds(2));
}

// Peers sent to the origin together (their complete parent rotten) take
// from each other what one already fetched: a piece a usable parent holds,
// with its digest known, is not asked of the origin, unless that parent is
// in its busy backoff.
TEST_F(DownloadTest, AtTheOriginPiecesAUsableParentHoldsAreTakenFromIt) {
  config_.parent_wanted = 1;
  config_.parent_max_in_flight = 1;
  StartDownload();
  AcceptWithParent("rotten");
  while (!transfers_.pending.empty()) {
    transfers_.FailOne(Status::Corruption("piece digest mismatch"));
  }
  loop_.RunUntilIdle();
  AddParent("sibling", {});
  loop_.AdvanceBy(milliseconds(1010));  // starved: the scheduler is asked again
  sv1::AnnouncePeerResponse to_origin;
  to_origin.mutable_decision()->set_kind(sv1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  link_.Say(to_origin);
  loop_.RunUntilIdle();
  ASSERT_EQ(transfers_.probes, 1);
  // Meanwhile the sibling fetched every piece but 0 from the origin.
  std::vector<uint32_t> all_but_first;
  for (uint32_t n = 1; n < kPieces; ++n) {
    all_but_first.push_back(n);
  }
  feed_.feeds.at("sibling")(all_but_first);
  loop_.RunUntilIdle();
  transfers_.AnswerProbe();
  loop_.RunUntilIdle();
  EXPECT_EQ(transfers_.origin_pieces, std::vector<uint32_t>{0});
  ASSERT_EQ(transfers_.pending.size(), 1U);
  EXPECT_EQ(transfers_.pending.front().request.parent_id, "sibling");
  // ...but not while it has no slot free: the origin is not kept waiting for
  // a parent in its busy backoff.
  transfers_.AnswerBusy();
  loop_.RunUntilIdle();
  EXPECT_GT(transfers_.origin_pieces.size(), 1U);
}

TEST_F(DownloadTest, BackToSourceIsIgnoredWhileParentsStillFeedTheDownload) {
  StartDownload();
  AcceptWithParent("parent-1");
  ASSERT_FALSE(transfers_.pending.empty());
  sv1::AnnouncePeerResponse to_origin;
  to_origin.mutable_decision()->set_kind(sv1::ScheduleDecision::KIND_BACK_TO_SOURCE);
  link_.Say(to_origin);
  loop_.RunUntilIdle();
  EXPECT_EQ(transfers_.probes, 0);
}

TEST_F(DownloadTest, DeadlineEndsTheDownloadAtItsVirtualTime) {
  StartDownload(seconds(30));
  loop_.AdvanceBy(seconds(29));
  EXPECT_FALSE(ended_);
  loop_.AdvanceBy(seconds(2));
  ASSERT_TRUE(ended_);
  ASSERT_TRUE(last_progress_ && last_progress_->done);
  EXPECT_EQ(last_progress_->status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(download_->Attach(DownloadWaiter{"", std::nullopt, [](const auto&) {}}))
      << "an ended download takes no new waiter";
}

TEST_F(DownloadTest, CancelServesWaitersAndEnds) {
  StartDownload();
  AcceptWithParent("parent-1");
  download_->Cancel();
  loop_.RunUntilIdle();
  ASSERT_TRUE(ended_);
  EXPECT_EQ(last_progress_->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(link_.Count(&sv1::AnnouncePeerRequest::has_download_failed), 1U);
}

}  // namespace
}  // namespace feilong::daemon
