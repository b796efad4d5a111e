// The real Server on loopback, driven by generated client stubs, with a fake
// daemon Peer service that records seed triggers.
#include "scheduler/scheduler_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "feilong/daemon/v1/daemon.grpc.pb.h"

namespace feilong::scheduler {
namespace {

using std::chrono::milliseconds;
using Kind = v1::ScheduleDecision;

constexpr char kTask[] = "task-grpc";
constexpr auto kWait = std::chrono::seconds(5);

// Records TriggerDownload calls and answers OK.
class FakePeerService final : public daemon::v1::Peer::CallbackService {
 public:
  grpc::ServerUnaryReactor* TriggerDownload(grpc::CallbackServerContext* context,
                                            const daemon::v1::TriggerDownloadRequest* request,
                                            daemon::v1::TriggerDownloadResponse*) override {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(*request);
    }
    changed_.notify_all();
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // The requests once at least `n` arrived, or what arrived within kWait.
  std::vector<daemon::v1::TriggerDownloadRequest> WaitFor(size_t n) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kWait, [&] { return requests_.size() >= n; });
    return requests_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<daemon::v1::TriggerDownloadRequest> requests_;
};

// One AnnouncePeer stream with a reader thread collecting responses.
class TestPeer {
 public:
  explicit TestPeer(v1::Scheduler::Stub& stub) : stream_(stub.AnnouncePeer(&context_)) {
    reader_ = std::thread([this] {
      v1::AnnouncePeerResponse response;
      while (stream_->Read(&response)) {
        std::lock_guard lock(mutex_);
        responses_.push_back(response);
        changed_.notify_all();
      }
      std::lock_guard lock(mutex_);
      ended_ = true;
      changed_.notify_all();
    });
  }

  ~TestPeer() {
    if (!finished_) {
      context_.TryCancel();
      reader_.join();
      stream_->Finish().ok();
    }
  }

  bool Send(const v1::AnnouncePeerRequest& request) { return stream_->Write(request); }

  void Register(const std::string& peer_id, const std::string& host_id,
                v1::HostType type = v1::HOST_TYPE_NORMAL) {
    v1::AnnouncePeerRequest request;
    v1::Register* r = request.mutable_register_();
    r->set_task_id(kTask);
    r->set_peer_id(peer_id);
    r->mutable_host()->set_id(host_id);
    r->mutable_host()->set_ip("127.0.0.1");
    r->mutable_host()->set_piece_port(1);
    r->mutable_host()->set_type(type);
    r->mutable_spec()->set_url("http://origin.test/file.bin");
    ASSERT_TRUE(Send(request));
  }

  // The next response, or nullopt after kWait or when the stream ended.
  std::optional<v1::AnnouncePeerResponse> Next() {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kWait, [&] { return !responses_.empty() || ended_; });
    if (responses_.empty()) {
      return std::nullopt;
    }
    v1::AnnouncePeerResponse response = responses_.front();
    responses_.pop_front();
    return response;
  }

  // The next response, which must be a decision.
  v1::ScheduleDecision NextDecision() {
    std::optional<v1::AnnouncePeerResponse> response = Next();
    EXPECT_TRUE(response.has_value() && response->has_decision());
    return response.has_value() ? response->decision() : v1::ScheduleDecision{};
  }

  // Simulates a peer that vanishes: the RPC is cancelled.
  void Drop() {
    context_.TryCancel();
    reader_.join();
    stream_->Finish().ok();
    finished_ = true;
  }

  // Half-closes the stream (the peer is done), then WaitForEnd().
  grpc::Status CloseWrites() {
    stream_->WritesDone();
    return WaitForEnd();
  }

  // Waits for the server to end the stream and returns its status.
  grpc::Status WaitForEnd() {
    reader_.join();
    finished_ = true;
    return stream_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AnnouncePeerRequest, v1::AnnouncePeerResponse>>
      stream_;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<v1::AnnouncePeerResponse> responses_;
  bool ended_ = false;
  bool finished_ = false;
};

class SchedulerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &fake_port_);
    builder.RegisterService(&fake_peer_);
    fake_server_ = builder.BuildAndStart();
    ASSERT_NE(fake_server_, nullptr);

    SchedulerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "127.0.0.1:0";
    config.schedule_wait = std::chrono::seconds(5);
    config.max_schedule_wait = std::chrono::seconds(10);
    config.seed_trigger_timeout = std::chrono::seconds(2);
    config.tick_interval = milliseconds(20);
    config.tls.enabled = false;
    Result<std::unique_ptr<Server>> server = Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    ASSERT_GT(server_->metrics_port(), 0);
    EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown();
    }
    if (fake_server_ != nullptr) {
      fake_server_->Shutdown();
    }
  }

  grpc::Status AnnounceSeedHost(uint32_t peer_port) {
    v1::AnnounceHostRequest request;
    v1::Host* host = request.mutable_host();
    host->set_id("seed-host");
    host->set_ip("127.0.0.1");
    host->set_peer_port(peer_port);
    host->set_piece_port(1);
    host->set_type(v1::HOST_TYPE_SEED);
    v1::AnnounceHostResponse response;
    grpc::ClientContext context;
    return stub_->AnnounceHost(&context, request, &response);
  }

  Result<v1::StatTaskResponse> Stat() {
    v1::StatTaskRequest request;
    request.set_task_id(kTask);
    v1::StatTaskResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->StatTask(&context, request, &response);
    if (!status.ok()) {
      return Status::NotFound(status.error_message());
    }
    return response;
  }

  // Polls StatTask until `done` holds for its result (or kWait passes).
  bool WaitForStat(const std::function<bool(const Result<v1::StatTaskResponse>&)>& done) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(Stat())) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  bool WaitForPeerCount(uint32_t n) {
    return WaitForStat([n](const auto& stat) { return stat.ok() && stat->peer_count() == n; });
  }

  bool WaitForTaskGone() {
    return WaitForStat([](const auto& stat) { return !stat.ok(); });
  }

  FakePeerService fake_peer_;
  std::unique_ptr<grpc::Server> fake_server_;
  int fake_port_ = 0;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

std::vector<std::string> ParentIds(const v1::ScheduleDecision& decision) {
  std::vector<std::string> ids;
  for (const auto& parent : decision.parents()) {
    ids.push_back(parent.peer_id());
  }
  return ids;
}

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST_F(SchedulerServiceTest, SeedIsTriggeredAndBecomesTheParent) {
  ASSERT_TRUE(AnnounceSeedHost(static_cast<uint32_t>(fake_port_)).ok());

  TestPeer a(*stub_);
  a.Register("peer-a", "host-a");
  auto triggers = fake_peer_.WaitFor(1);
  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].task_id(), kTask);
  EXPECT_EQ(triggers[0].spec().url(), "http://origin.test/file.bin");

  // The seed registers and is told to go to the origin.
  TestPeer seed(*stub_);
  seed.Register("peer-seed", "seed-host", v1::HOST_TYPE_SEED);
  v1::ScheduleDecision decision = seed.NextDecision();
  EXPECT_EQ(decision.kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decision.reason(), common::v1::BACK_TO_SOURCE_REASON_SEED);

  // Its first report of the content length makes it a parent of the waiting peer.
  v1::AnnouncePeerRequest length;
  length.mutable_content_length_known()->set_content_length(10 << 20);
  length.mutable_content_length_known()->set_piece_length(4 << 20);
  ASSERT_TRUE(seed.Send(length));
  decision = a.NextDecision();
  EXPECT_EQ(decision.kind(), Kind::KIND_NORMAL);
  EXPECT_EQ(ParentIds(decision), std::vector<std::string>{"peer-seed"});
  EXPECT_EQ(decision.parents(0).host().ip(), "127.0.0.1");
  EXPECT_EQ(decision.content_length(), 10u << 20);
  EXPECT_EQ(decision.piece_length(), 4u << 20);

  // Origin digests are pushed to the child.
  v1::AnnouncePeerRequest piece;
  piece.mutable_piece_finished()->set_number(0);
  piece.mutable_piece_finished()->set_sha256(std::string(32, '\x5a'));
  ASSERT_TRUE(seed.Send(piece));
  std::optional<v1::AnnouncePeerResponse> pushed = a.Next();
  ASSERT_TRUE(pushed.has_value() && pushed->has_piece_digests());
  ASSERT_EQ(pushed->piece_digests().pieces_size(), 1);
  EXPECT_EQ(pushed->piece_digests().pieces(0).number(), 0u);
  EXPECT_EQ(pushed->piece_digests().pieces(0).sha256(), std::string(32, '\x5a'));

  // A newcomer gets the seed and "a", then the digests known so far.
  TestPeer b(*stub_);
  b.Register("peer-b", "host-b");
  decision = b.NextDecision();
  EXPECT_EQ(decision.kind(), Kind::KIND_NORMAL);
  EXPECT_TRUE(Contains(ParentIds(decision), "peer-seed"));
  EXPECT_TRUE(Contains(ParentIds(decision), "peer-a"));
  std::optional<v1::AnnouncePeerResponse> digests = b.Next();
  ASSERT_TRUE(digests.has_value() && digests->has_piece_digests());
  EXPECT_EQ(digests->piece_digests().pieces_size(), 1);

  Result<v1::StatTaskResponse> stat = Stat();
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->peer_count(), 3u);
  EXPECT_EQ(stat->known_piece_digests(), 1u);
  EXPECT_EQ(stat->back_to_source_peer_count(), 1u);

  // "a" vanishes: it is removed and no longer offered.
  a.Drop();
  ASSERT_TRUE(WaitForPeerCount(2));
  TestPeer c(*stub_);
  c.Register("peer-c", "host-c");
  decision = c.NextDecision();
  EXPECT_EQ(decision.kind(), Kind::KIND_NORMAL);
  EXPECT_FALSE(Contains(ParentIds(decision), "peer-a"));

  std::string metrics = server_->registry().Render();
  EXPECT_NE(metrics.find("feilong_scheduler_decisions_total{kind=\"normal\"} 3"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("feilong_scheduler_back_to_source_total{reason=\"seed\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("feilong_scheduler_registrations_total 4"), std::string::npos);

  // Shutdown ends the open streams with UNAVAILABLE.
  server_->Shutdown();
  EXPECT_EQ(c.WaitForEnd().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(seed.WaitForEnd().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SchedulerServiceTest, UnreachableSeedSendsPeerToTheOrigin) {
  // Port 1 on loopback: nothing listens, the trigger fails fast.
  ASSERT_TRUE(AnnounceSeedHost(1).ok());
  TestPeer a(*stub_);
  a.Register("peer-a", "host-a");
  v1::ScheduleDecision decision = a.NextDecision();
  EXPECT_EQ(decision.kind(), Kind::KIND_BACK_TO_SOURCE);
  EXPECT_EQ(decision.reason(), common::v1::BACK_TO_SOURCE_REASON_NO_PARENT);
  EXPECT_NE(server_->registry().Render().find(
                "feilong_scheduler_seed_triggers_total{result=\"failed\"} 1"),
            std::string::npos);
}

TEST_F(SchedulerServiceTest, StreamThatDoesNotStartWithRegisterIsRejected) {
  TestPeer a(*stub_);
  v1::AnnouncePeerRequest request;
  request.mutable_download_finished();
  ASSERT_TRUE(a.Send(request));
  EXPECT_EQ(a.WaitForEnd().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SchedulerServiceTest, FinishedPeerStaysAParentAfterItsStreamEnds) {
  TestPeer a(*stub_);
  a.Register("peer-a", "host-a");
  EXPECT_EQ(a.NextDecision().kind(), Kind::KIND_BACK_TO_SOURCE);  // no seed host
  ASSERT_TRUE(WaitForPeerCount(1));
  v1::AnnouncePeerRequest done;
  done.mutable_download_finished();
  ASSERT_TRUE(a.Send(done));
  // A finished peer stays (as a parent) while its stream is open...
  ASSERT_TRUE(WaitForStat([](const auto& stat) {
    return stat.ok() && stat->peer_count() == 1 && stat->succeeded_peer_count() == 1;
  }));
  // ...and after it half-closes (the stream then ends OK), until its host leaves.
  EXPECT_TRUE(a.CloseWrites().ok());
  EXPECT_EQ(Stat()->succeeded_peer_count(), 1u);
  grpc::ClientContext context;
  v1::LeaveHostRequest leave;
  leave.set_host_id("host-a");
  v1::LeaveHostResponse response;
  ASSERT_TRUE(stub_->LeaveHost(&context, leave, &response).ok());
  EXPECT_TRUE(WaitForTaskGone());  // with its last peer, on the next tick
}

TEST_F(SchedulerServiceTest, UnaryCalls) {
  grpc::ClientContext context;
  v1::StatTaskRequest request;
  request.set_task_id("unknown");
  v1::StatTaskResponse response;
  EXPECT_EQ(stub_->StatTask(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::AnnounceHostRequest bad;
  grpc::ClientContext bad_context;
  v1::AnnounceHostResponse bad_response;
  EXPECT_EQ(stub_->AnnounceHost(&bad_context, bad, &bad_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(AnnounceSeedHost(static_cast<uint32_t>(fake_port_)).ok());
  EXPECT_TRUE(server_->state().HasHost("seed-host"));
  grpc::ClientContext leave_context;
  v1::LeaveHostRequest leave;
  leave.set_host_id("seed-host");
  v1::LeaveHostResponse leave_response;
  EXPECT_TRUE(stub_->LeaveHost(&leave_context, leave, &leave_response).ok());
  EXPECT_FALSE(server_->state().HasHost("seed-host"));
}

}  // namespace
}  // namespace feilong::scheduler
