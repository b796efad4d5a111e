#include "daemon/download/piece_client.h"

#include <gtest/gtest.h>

#include <future>

#include "access/grant.h"
#include "common/digest.h"
#include "common/io_loop.h"
#include "daemon/upload/piece_server.h"
#include "source/curl_multi.h"
#include "support/fake_piece_store.h"
#include "support/misbehaving_origin.h"
#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

using test::MemoryPieceWriter;
using test::MisbehavingOrigin;

constexpr uint32_t kPieceLength = 128 * 1024;
const std::string kTask = std::string(60, '0') + "beef";

class PieceClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content_ = test::RandomBytes(2 * kPieceLength + 17, 9);  // 3 pieces
    store_.AddTask(kTask, content_, kPieceLength, std::vector<uint32_t>{0, 2});
    PieceServerOptions options;
    options.host = "127.0.0.1";
    options.threads = 1;
    options.grants_refused_metric = &grants_refused_metric_;
    Result<std::unique_ptr<PieceServer>> server = PieceServer::Start(options, store_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::string Piece(uint32_t number) const {
    return content_.substr(uint64_t{number} * kPieceLength, kPieceLength);
  }

  std::unique_ptr<MisbehavingOrigin> StartParent(MisbehavingOrigin::Behavior behavior,
                                                 std::string body) {
    MisbehavingOrigin::Options options;
    options.behavior = behavior;
    options.body = std::move(body);
    options.status = 404;
    options.stall_after = 100;
    Result<std::unique_ptr<MisbehavingOrigin>> parent = MisbehavingOrigin::Start(options);
    EXPECT_TRUE(parent.ok());
    return parent.ok() ? std::move(parent).value() : nullptr;
  }

  // Runs `client`'s fetch on the test's multi and waits for its result.
  Result<PieceFetchResult> Fetch(const PieceClient& client, const std::string& host, uint16_t port,
                                 const std::string& task_id, uint32_t number, uint32_t length,
                                 storage::PieceWriter& writer, const std::string& grant = {}) {
    std::promise<Result<PieceFetchResult>> result;
    client.Fetch(multi_, host, port, task_id, number, length, writer, grant,
                 [&](Result<PieceFetchResult> fetched) { result.set_value(std::move(fetched)); });
    return result.get_future().get();
  }

  IoLoop loop_{1};
  source::CurlMulti multi_{loop_};
  test::TempDir dir_;
  metrics::Counter grants_refused_metric_;
  test::FakePieceStore store_{dir_.path()};
  std::string content_;
  std::unique_ptr<PieceServer> server_;
  PieceClient client_{PieceClientOptions{}};
};

TEST_F(PieceClientTest, FetchesAPieceIntoTheWriter) {
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, kPieceLength, writer);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->bytes, kPieceLength);
  EXPECT_GT(result->elapsed.count(), 0);
  ASSERT_TRUE(result->parent_digest.has_value());
  EXPECT_EQ(*result->parent_digest, Sha256(Piece(0)));
  EXPECT_TRUE(writer.data() == Piece(0));
  Result<Sha256Digest> committed = writer.Commit(Sha256(Piece(0)));
  EXPECT_TRUE(committed.ok());
}

TEST_F(PieceClientTest, APrivateTaskGoesOnlyToAGrantForItAndThisAddress) {
  auto signer = access::GrantSigner::Generate();
  ASSERT_TRUE(signer.ok());
  ASSERT_TRUE(store_.SetTaskAccess(kTask, (*signer)->public_key()).ok());
  const int64_t expires = SteadyClock::Default().NowUnixSeconds() + 600;
  auto fetch = [&](uint32_t number, const std::string& grant) {
    MemoryPieceWriter writer(kPieceLength);
    return Fetch(client_, "127.0.0.1", server_->port(), kTask, number, kPieceLength, writer, grant);
  };
  auto denied = [](const Result<PieceFetchResult>& r) {
    return r.status().code() == StatusCode::kPermissionDenied;
  };
  EXPECT_TRUE(denied(fetch(0, "")));
  // Held or not, the answer is the same: nothing about the content.
  EXPECT_TRUE(denied(fetch(1, "")));
  EXPECT_TRUE(denied(fetch(0, (*signer)->Sign({kTask, expires, "10.1.2.3"}))));
  EXPECT_TRUE(denied(fetch(0, (*signer)->Sign({std::string(64, 'f'), expires, "127.0.0.1"}))));
  auto stranger = access::GrantSigner::Generate();
  ASSERT_TRUE(stranger.ok());
  EXPECT_TRUE(denied(fetch(0, (*stranger)->Sign({kTask, expires, "127.0.0.1"}))));
  EXPECT_EQ(server_->grants_refused(), 5u);
  EXPECT_EQ(grants_refused_metric_.value(), 5u);

  Result<PieceFetchResult> granted = fetch(0, (*signer)->Sign({kTask, expires, "127.0.0.1"}));
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  EXPECT_EQ(granted->bytes, kPieceLength);
  EXPECT_TRUE(fetch(1, (*signer)->Sign({kTask, expires, "127.0.0.1"})).status().IsNotFound());
}

TEST_F(PieceClientTest, APrivateTaskWithoutAKnownKeyGoesToNobody) {
  ASSERT_TRUE(store_.SetTaskAccess(kTask, "").ok());
  auto signer = access::GrantSigner::Generate();
  ASSERT_TRUE(signer.ok());
  MemoryPieceWriter writer(kPieceLength);
  auto result =
      Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, kPieceLength, writer,
            (*signer)->Sign({kTask, SteadyClock::Default().NowUnixSeconds() + 600, "127.0.0.1"}));
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied);
}

TEST_F(PieceClientTest, ReusesTheConnectionAcrossFetches) {
  for (uint32_t number : {0u, 2u, 0u}) {
    uint32_t length = number == 2 ? 17 : kPieceLength;
    MemoryPieceWriter writer(length);
    Result<PieceFetchResult> result =
        Fetch(client_, "127.0.0.1", server_->port(), kTask, number, length, writer);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_TRUE(writer.data() == Piece(number));
    EXPECT_EQ(server_->active_connections(), 1u);
  }
}

TEST_F(PieceClientTest, KeepsAConnectionToEachOfManyParents) {
  // More parents than libcurl keeps connections by default (5).
  std::vector<std::unique_ptr<PieceServer>> parents;
  for (int i = 0; i < 12; ++i) {
    PieceServerOptions options;
    options.host = "127.0.0.1";
    options.threads = 1;
    Result<std::unique_ptr<PieceServer>> parent = PieceServer::Start(options, store_);
    ASSERT_TRUE(parent.ok()) << parent.status().ToString();
    parents.push_back(std::move(parent).value());
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& parent : parents) {
      MemoryPieceWriter writer(kPieceLength);
      Result<PieceFetchResult> result =
          Fetch(client_, "127.0.0.1", parent->port(), kTask, 0, kPieceLength, writer);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
    }
  }
  for (auto& parent : parents) {
    EXPECT_EQ(parent->connections_accepted(), 1u);
  }
}

TEST_F(PieceClientTest, MissingPieceIsNotFound) {
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", server_->port(), kTask, 1, kPieceLength, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound) << result.status().ToString();
  EXPECT_EQ(writer.written(), 0u);
  std::string other_task(64, 'f');
  result = Fetch(client_, "127.0.0.1", server_->port(), other_task, 0, kPieceLength, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
}

TEST_F(PieceClientTest, WrongExpectedLengthIsCorruption) {
  MemoryPieceWriter writer(kPieceLength + 1);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, kPieceLength + 1, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kCorruption) << result.status().ToString();
  EXPECT_EQ(writer.written(), 0u);
}

TEST_F(PieceClientTest, ParentDownIsUnavailable) {
  uint16_t port = server_->port();
  server_->Stop();
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", port, kTask, 0, kPieceLength, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("parent 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << result.status().message();
}

TEST_F(PieceClientTest, TruncatedBodyIsAnError) {
  auto parent = StartParent(MisbehavingOrigin::Behavior::kShortBody, Piece(0));
  ASSERT_NE(parent, nullptr);
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", parent->port(), kTask, 0, kPieceLength, writer);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_NE(result.status().message().find("of 131072 bytes"), std::string::npos)
      << result.status().message();
  EXPECT_LT(writer.written(), kPieceLength);
  EXPECT_FALSE(writer.Commit(std::nullopt).ok());
}

TEST_F(PieceClientTest, ParentSendingAnotherLengthIsCorruption) {
  auto parent = StartParent(MisbehavingOrigin::Behavior::kHonest, Piece(0) + "extra");
  ASSERT_NE(parent, nullptr);
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", parent->port(), kTask, 0, kPieceLength, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kCorruption) << result.status().ToString();
}

TEST_F(PieceClientTest, ParentStatusesAreMapped) {
  auto parent = StartParent(MisbehavingOrigin::Behavior::kFixedStatus, "");
  ASSERT_NE(parent, nullptr);
  MemoryPieceWriter writer(kPieceLength);
  EXPECT_EQ(
      Fetch(client_, "127.0.0.1", parent->port(), kTask, 0, kPieceLength, writer).status().code(),
      StatusCode::kNotFound);
}

TEST_F(PieceClientTest, BusyParentIsNotAnError) {
  MisbehavingOrigin::Options options;
  options.behavior = MisbehavingOrigin::Behavior::kFixedStatus;
  options.status = 503;
  options.extra_headers = {"X-Feilong-Busy: slots"};
  auto parent = MisbehavingOrigin::Start(options);
  ASSERT_TRUE(parent.ok());
  MemoryPieceWriter writer(kPieceLength);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", (*parent)->port(), kTask, 0, kPieceLength, writer);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->busy, PieceFetchResult::Busy::kParent);
  EXPECT_EQ(result->bytes, 0u);
  EXPECT_EQ(writer.written(), 0u);
  options.extra_headers = {"X-Feilong-Busy: piece"};
  auto piece_busy = MisbehavingOrigin::Start(options);
  ASSERT_TRUE(piece_busy.ok());
  result = Fetch(client_, "127.0.0.1", (*piece_busy)->port(), kTask, 0, kPieceLength, writer);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->busy, PieceFetchResult::Busy::kPiece);
  // A 503 without the header is an unavailable parent, as before.
  options.extra_headers.clear();
  auto plain = MisbehavingOrigin::Start(options);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(
      Fetch(client_, "127.0.0.1", (*plain)->port(), kTask, 0, kPieceLength, writer).status().code(),
      StatusCode::kUnavailable);
}

TEST_F(PieceClientTest, StalledParentIsDeadlineExceeded) {
  auto parent = StartParent(MisbehavingOrigin::Behavior::kStall, Piece(0));
  ASSERT_NE(parent, nullptr);
  PieceClient client(
      PieceClientOptions{std::chrono::milliseconds(1000), std::chrono::milliseconds(300)});
  MemoryPieceWriter writer(kPieceLength);
  auto start = std::chrono::steady_clock::now();
  Result<PieceFetchResult> result =
      Fetch(client, "127.0.0.1", parent->port(), kTask, 0, kPieceLength, writer);
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded) << result.status().ToString();
  EXPECT_EQ(writer.written(), 100u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(PieceClientTest, WriterErrorIsReturned) {
  MemoryPieceWriter writer(kPieceLength, /*fail_after=*/1000);
  Result<PieceFetchResult> result =
      Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, kPieceLength, writer);
  EXPECT_EQ(result.status(), Status::IOError("injected write failure"));
  // The client recovers on the next fetch (a new connection if needed).
  MemoryPieceWriter good(kPieceLength);
  EXPECT_TRUE(Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, kPieceLength, good).ok());
}

TEST_F(PieceClientTest, RejectsBadArguments) {
  MemoryPieceWriter writer(kPieceLength);
  EXPECT_EQ(Fetch(client_, "127.0.0.1", server_->port(), "../etc", 0, kPieceLength, writer)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Fetch(client_, "127.0.0.1", server_->port(), kTask, 0, 0, writer).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace feilong::daemon
