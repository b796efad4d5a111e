#include "daemon/upload/piece_server.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "common/digest.h"
#include "support/fake_piece_store.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

using test::RawHttpConnection;
using test::RawHttpRequest;
using test::RawHttpResponse;

constexpr uint32_t kPieceLength = 256 * 1024;
const std::string kTask = std::string(64, 'a');
const std::string kOtherTask = std::string(63, 'b') + "c";

class PieceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content_ = test::RandomBytes(3 * kPieceLength + 1000, 7);  // 4 pieces, the last short
    store_.AddTask(kTask, content_, kPieceLength, std::vector<uint32_t>{0, 1, 3});
    StartServer({});
  }

  void StartServer(PieceServerOptions options) {
    server_.reset();
    options.host = "127.0.0.1";
    options.port = 0;
    Result<std::unique_ptr<PieceServer>> server = PieceServer::Start(options, store_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::string Piece(uint32_t number) const {
    return content_.substr(uint64_t{number} * kPieceLength, kPieceLength);
  }

  std::string Path(const std::string& task, uint32_t number) const {
    return "/pieces/" + task + "/" + std::to_string(number);
  }

  // Adds a task of two big pieces (returned): a client that asks for one and
  // does not read holds its upload, since the socket buffers fill up.
  static constexpr uint32_t kBig = 32u << 20;
  const std::string big_task_ = std::string(63, 'd') + "e";
  std::string AddBigTask(uint64_t seed) {
    std::string big = test::RandomBytes(2 * kBig, seed);
    store_.AddTask(big_task_, big, kBig, std::vector<uint32_t>{0, 1});
    return big;
  }

  // Waits up to 2 s for the server to be sending `uploads` pieces.
  void WaitForUploads(uint32_t uploads) {
    for (int i = 0; i < 200 && server_->active_uploads() != uploads; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Starts the server with `options` and one upload slot, and takes that
  // slot with a client that asks for big piece 0 and does not read.
  Result<RawHttpConnection> HoldTheOnlySlot(PieceServerOptions options) {
    options.max_uploads = 1;
    StartServer(options);
    Result<RawHttpConnection> slow = RawHttpConnection::Connect(server_->port());
    if (slow.ok()) {
      Status sent = slow->Send(Get(Path(big_task_, 0)));
      if (!sent.ok()) {
        return sent;
      }
      WaitForUploads(1);
    }
    return slow;
  }

  static std::string Get(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }

  test::TempDir dir_;
  test::FakePieceStore store_{dir_.path()};
  std::string content_;
  std::unique_ptr<PieceServer> server_;
};

TEST_F(PieceServerTest, ServesAPieceWithItsDigest) {
  Result<RawHttpResponse> response = RawHttpRequest(server_->port(), "GET", Path(kTask, 1));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-length"), std::to_string(kPieceLength));
  EXPECT_EQ(response->Header("x-feilong-piece-digest"), Sha256String(Sha256(Piece(1))));
  EXPECT_TRUE(response->body == Piece(1));
  EXPECT_EQ(server_->bytes_served(), kPieceLength);
  EXPECT_EQ(server_->active_uploads(), 0u);
}

TEST_F(PieceServerTest, ServesTheShortLastPiece) {
  Result<RawHttpResponse> response = RawHttpRequest(server_->port(), "GET", Path(kTask, 3));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.size(), 1000u);
  EXPECT_TRUE(response->body == Piece(3));
}

TEST_F(PieceServerTest, HeadSendsHeadersOnly) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection->Send("HEAD " + Path(kTask, 0) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  Result<RawHttpResponse> head = connection->ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), std::to_string(kPieceLength));
  EXPECT_EQ(head->Header("x-feilong-piece-digest"), Sha256String(Sha256(Piece(0))));
  // The connection is still usable and no body bytes were sent in between.
  ASSERT_TRUE(connection->Send("GET " + Path(kTask, 3) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  Result<RawHttpResponse> get = connection->ReadResponse();
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_TRUE(get->body == Piece(3));
  EXPECT_EQ(server_->bytes_served(), 1000u);
}

TEST_F(PieceServerTest, UnknownTaskOrPieceIsNotFound) {
  EXPECT_EQ(RawHttpRequest(server_->port(), "GET", Path(kOtherTask, 0))->status, 404);
  EXPECT_EQ(RawHttpRequest(server_->port(), "GET", Path(kTask, 2))->status, 404);  // not held
  EXPECT_EQ(RawHttpRequest(server_->port(), "GET", "/metrics")->status, 404);
}

TEST_F(PieceServerTest, MalformedRequestsAreBadRequests) {
  for (const std::string& target :
       {std::string("/pieces/../../etc/passwd"), "/pieces/" + kTask + "/../0", "/pieces/" + kTask,
        "/pieces/" + kTask + "/", "/pieces/" + kTask + "/1/2", "/pieces/" + kTask + "/x1",
        "/pieces/" + kTask + "/-1", "/pieces/" + kTask + "/4294967296",
        "/pieces/" + kTask + "/4",  // past the task's last piece
        "/pieces/" + std::string(64, 'A') + "/0", "/pieces/" + std::string(63, 'a') + "/0",
        std::string("/../etc/passwd"), std::string("relative")}) {
    Result<RawHttpResponse> response = RawHttpRequest(server_->port(), "GET", target);
    ASSERT_TRUE(response.ok()) << target << ": " << response.status().ToString();
    EXPECT_EQ(response->status, 400) << target;
  }
}

TEST_F(PieceServerTest, OtherMethodsAreNotAllowed) {
  Result<RawHttpResponse> response = RawHttpRequest(server_->port(), "DELETE", Path(kTask, 0));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "GET, HEAD");
}

TEST_F(PieceServerTest, RequestBodiesAreRejected) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection
                  ->Send("POST " + Path(kTask, 0) +
                         " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                  .ok());
  Result<RawHttpResponse> response = connection->ReadResponse();
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(connection->ServerClosed());
}

TEST_F(PieceServerTest, HugeHeadersGet431AndClose) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  std::string request = "GET " + Path(kTask, 0) +
                        " HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'z') + "\r\n\r\n";
  ASSERT_TRUE(connection->Send(request).ok());
  Result<RawHttpResponse> response = connection->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(connection->ServerClosed());
}

TEST_F(PieceServerTest, GarbageGets400AndClose) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection->Send("NOT HTTP AT ALL\r\n\r\n").ok());
  Result<RawHttpResponse> response = connection->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(connection->ServerClosed());
  // The server still serves others.
  EXPECT_EQ(RawHttpRequest(server_->port(), "GET", Path(kTask, 0))->status, 200);
}

TEST_F(PieceServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  // Two requests in sequence, then two pipelined in one write.
  for (uint32_t number : {0u, 1u}) {
    ASSERT_TRUE(
        connection->Send("GET " + Path(kTask, number) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    Result<RawHttpResponse> response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("connection"), "keep-alive");
    EXPECT_TRUE(response->body == Piece(number));
  }
  ASSERT_TRUE(connection
                  ->Send("GET " + Path(kTask, 3) + " HTTP/1.1\r\nHost: x\r\n\r\nGET " +
                         Path(kTask, 2) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .ok());
  Result<RawHttpResponse> third = connection->ReadResponse();
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_TRUE(third->body == Piece(3));
  Result<RawHttpResponse> fourth = connection->ReadResponse();
  ASSERT_TRUE(fourth.ok()) << fourth.status().ToString();
  EXPECT_EQ(fourth->status, 404);
  EXPECT_EQ(fourth->Header("connection"), "close");
  EXPECT_TRUE(connection->ServerClosed());
}

// The congestion control of the connections is the server's choice, not the
// host's: `ss` shows what an established connection runs.
TEST_F(PieceServerTest, ConnectionsRunTheConfiguredCongestionControl) {
  std::ifstream host_default_file("/proc/sys/net/ipv4/tcp_congestion_control");
  std::string host_default;
  host_default_file >> host_default;
  const std::string wanted = host_default == "reno" ? "cubic" : "reno";
  PieceServerOptions options;
  options.tcp_congestion = wanted;
  StartServer(options);
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection->Send(Get(Path(kTask, 0))).ok());
  Result<RawHttpResponse> response = connection->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->status, 200);

  const std::string command =
      "ss -tinH state established '( sport = :" + std::to_string(server_->port()) + " )' 2>&1";
  std::string shown;
  if (FILE* ss = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), ss)) > 0) {
      shown.append(buffer, n);
    }
    ::pclose(ss);
  }
  EXPECT_NE(shown.find(" " + wanted + " "), std::string::npos) << command << "\n" << shown;
  EXPECT_EQ(shown.find(" " + host_default + " "), std::string::npos) << shown;
}

TEST_F(PieceServerTest, AnUnusableCongestionControlStillServes) {
  PieceServerOptions options;
  options.tcp_congestion = "nosuchcc";
  StartServer(options);
  Result<RawHttpResponse> response = RawHttpRequest(server_->port(), "GET", Path(kTask, 1));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
}

TEST_F(PieceServerTest, Http10ClosesByDefault) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection->Send("GET " + Path(kTask, 3) + " HTTP/1.0\r\n\r\n").ok());
  Result<RawHttpResponse> response = connection->ReadResponse();
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(connection->ServerClosed());
}

TEST_F(PieceServerTest, StoreErrorIs500) {
  store_.FailOpenPiece(Status::IOError("disk on fire"));
  EXPECT_EQ(RawHttpRequest(server_->port(), "GET", Path(kTask, 0))->status, 500);
}

TEST_F(PieceServerTest, IdleConnectionsAreClosed) {
  PieceServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  StartServer(options);
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(connection->ServerClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(PieceServerTest, ConnectionLimitIsEnforced) {
  PieceServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  Result<RawHttpConnection> first = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->Send("GET " + Path(kTask, 3) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(first->ReadResponse().ok());  // the first connection is being served
  EXPECT_EQ(server_->active_connections(), 1u);
  Result<RawHttpConnection> second = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->ServerClosed());
}

TEST_F(PieceServerTest, ManyConcurrentClients) {
  std::vector<int> ok(16, 0);
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < 16; ++i) {
      clients.emplace_back([&, i] {
        Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
        if (!connection.ok()) {
          return;
        }
        for (uint32_t number : {0u, 1u, 3u}) {
          // A piece goes to one client at a time: the others are told busy
          // and ask again, as children do.
          for (int attempt = 0;; ++attempt) {
            if (attempt == 2000 ||
                !connection->Send("GET " + Path(kTask, number) + " HTTP/1.1\r\nHost: x\r\n\r\n")
                     .ok()) {
              return;
            }
            Result<RawHttpResponse> response = connection->ReadResponse();
            if (!response.ok()) {
              return;
            }
            if (response->status == 503 && response->Header("x-feilong-busy") == "piece") {
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
              continue;
            }
            if (response->body != Piece(number)) {
              return;
            }
            break;
          }
        }
        ok[i] = 1;
      });
    }
  }
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(ok[i], 1) << "client " << i;
  }
  EXPECT_EQ(server_->bytes_served(), 16u * (2 * kPieceLength + 1000));
}

// A client that does not read holds its upload (the socket buffers fill);
// meanwhile the server answers busy, saying why, and serves again once the
// upload is done.
TEST_F(PieceServerTest, BusyWhileUploadSlotsOrThePieceAreTaken) {
  std::string big = AddBigTask(11);
  Result<RawHttpConnection> slow = HoldTheOnlySlot({});
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  ASSERT_EQ(server_->active_uploads(), 1u);

  Result<RawHttpConnection> other = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->Send(Get(Path(kTask, 1))).ok());
  Result<RawHttpResponse> busy = other->ReadResponse();
  ASSERT_TRUE(busy.ok()) << busy.status().ToString();
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->Header("x-feilong-busy"), "slots");
  // HEAD sends no body and needs no slot.
  ASSERT_TRUE(other->Send("HEAD " + Path(kTask, 1) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  Result<RawHttpResponse> head = other->ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(server_->busy_replies(), 1u);

  Result<RawHttpResponse> whole = slow->ReadResponse();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(whole->body == big.substr(0, kBig));
  WaitForUploads(0);
  ASSERT_TRUE(other->Send(Get(Path(kTask, 1))).ok());
  Result<RawHttpResponse> served = other->ReadResponse();
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(served->status, 200);
  EXPECT_TRUE(served->body == Piece(1));
}

// With a queue, a GET finding the only slot taken waits for it instead of
// being told busy; one beyond the queue's length is told busy at once.
TEST_F(PieceServerTest, AGetFindingEverySlotTakenWaitsInTheQueue) {
  std::string big = AddBigTask(13);
  PieceServerOptions options;
  options.queue_wait = std::chrono::seconds(30);
  options.queue_length = 1;
  Result<RawHttpConnection> slow = HoldTheOnlySlot(options);
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  ASSERT_EQ(server_->active_uploads(), 1u);

  Result<RawHttpConnection> queued = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(queued.ok());
  ASSERT_TRUE(queued->Send(Get(Path(kTask, 1))).ok());
  for (int i = 0; i < 200 && server_->queued_requests() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->queued_requests(), 1u);

  Result<RawHttpConnection> turned_away = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(turned_away.ok());
  ASSERT_TRUE(turned_away->Send(Get(Path(kTask, 3))).ok());
  Result<RawHttpResponse> busy = turned_away->ReadResponse();
  ASSERT_TRUE(busy.ok()) << busy.status().ToString();
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->Header("x-feilong-busy"), "slots");
  EXPECT_EQ(server_->busy_replies(), 1u);

  // The slow upload ends; the queued GET takes its slot.
  Result<RawHttpResponse> whole = slow->ReadResponse();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(whole->body == big.substr(0, kBig));
  Result<RawHttpResponse> served = queued->ReadResponse();
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  EXPECT_EQ(served->status, 200);
  EXPECT_TRUE(served->body == Piece(1));
  EXPECT_EQ(server_->busy_replies(), 1u);
}

TEST_F(PieceServerTest, AQueuedGetWhoseWaitRunsOutIsToldBusy) {
  AddBigTask(14);
  PieceServerOptions options;
  options.queue_wait = std::chrono::milliseconds(100);
  options.queue_length = 4;
  Result<RawHttpConnection> slow = HoldTheOnlySlot(options);
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  ASSERT_EQ(server_->active_uploads(), 1u);

  Result<RawHttpConnection> other = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(other.ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(other->Send(Get(Path(kTask, 1))).ok());
  Result<RawHttpResponse> busy = other->ReadResponse();
  ASSERT_TRUE(busy.ok()) << busy.status().ToString();
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->Header("x-feilong-busy"), "slots");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  EXPECT_EQ(server_->queued_requests(), 1u);
  EXPECT_EQ(server_->busy_replies(), 1u);
}

TEST_F(PieceServerTest, APieceIsSentToOneClientAtATime) {
  std::string big = AddBigTask(12);
  Result<RawHttpConnection> slow = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(slow.ok());
  ASSERT_TRUE(slow->Send(Get(Path(big_task_, 0))).ok());
  WaitForUploads(1);
  ASSERT_EQ(server_->active_uploads(), 1u);
  Result<RawHttpConnection> other = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->Send(Get(Path(big_task_, 0))).ok());
  Result<RawHttpResponse> busy = other->ReadResponse();
  ASSERT_TRUE(busy.ok()) << busy.status().ToString();
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->Header("x-feilong-busy"), "piece");
  // Another piece of the same task goes out at once.
  ASSERT_TRUE(other->Send(Get(Path(big_task_, 1))).ok());
  Result<RawHttpResponse> second = other->ReadResponse();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->status, 200);
  EXPECT_TRUE(second->body == big.substr(kBig));
  Result<RawHttpResponse> first = slow->ReadResponse();
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->body == big.substr(0, kBig));
}

TEST_F(PieceServerTest, StopClosesConnectionsAndIsIdempotent) {
  Result<RawHttpConnection> connection = RawHttpConnection::Connect(server_->port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection->Send("GET " + Path(kTask, 3) + " HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(connection->ReadResponse().ok());
  uint16_t port = server_->port();
  server_->Stop();
  server_->Stop();
  EXPECT_TRUE(connection->ServerClosed());
  EXPECT_FALSE(RawHttpConnection::Connect(port).ok());
}

TEST(PieceServerStartTest, BadOptionsAndBusyPort) {
  test::TempDir dir;
  test::FakePieceStore store(dir.path());
  PieceServerOptions options;
  options.host = "127.0.0.1";
  options.threads = 0;
  EXPECT_EQ(PieceServer::Start(options, store).status().code(), StatusCode::kInvalidArgument);
  options.threads = 1;
  Result<std::unique_ptr<PieceServer>> first = PieceServer::Start(options, store);
  ASSERT_TRUE(first.ok());
  options.port = (*first)->port();
  Result<std::unique_ptr<PieceServer>> second = PieceServer::Start(options, store);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIOError);
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(options.port)),
            std::string::npos)
      << second.status().message();
}

}  // namespace
}  // namespace feilong::daemon
