// SchedulerConnection against a real in-process scheduler: what a peer sends
// right before Close() must reach the scheduler.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "daemon/download/scheduler_connection.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_service.h"

namespace feilong::daemon {
namespace {

namespace sv1 = feilong::scheduler::v1;

TEST(SchedulerConnectionCloseTest, LastReportsReachTheSchedulerBeforeTheStreamEnds) {
  scheduler::SchedulerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.tls.enabled = false;
  auto server = scheduler::Server::Start(config);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string address = (*server)->address();

  constexpr uint32_t kPieces = 200;
  const std::string task_id(64, 'a');
  sv1::Register reg;
  reg.set_task_id(task_id);
  reg.set_peer_id("seed-peer-1");
  reg.mutable_host()->set_id("seed-host");
  reg.mutable_host()->set_ip("127.0.0.1");
  reg.mutable_host()->set_type(sv1::HOST_TYPE_SEED);
  reg.mutable_spec()->set_url("http://127.0.0.1:1/file");

  SchedulerChannels channels;
  auto conn = SchedulerConnection::Open(
      channels, {address}, reg, std::chrono::seconds(5), [](sv1::AnnouncePeerResponse) {},
      [](Status) {});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();

  sv1::AnnouncePeerRequest known;
  known.mutable_content_length_known()->set_content_length(uint64_t{kPieces} * 4096);
  known.mutable_content_length_known()->set_piece_length(4096);
  ASSERT_TRUE((*conn)->Send(known));
  for (uint32_t n = 0; n < kPieces; ++n) {
    sv1::AnnouncePeerRequest piece;
    piece.mutable_piece_finished()->set_number(n);
    piece.mutable_piece_finished()->set_sha256(std::string(32, static_cast<char>(n)));
    ASSERT_TRUE((*conn)->Send(piece));
  }
  sv1::AnnouncePeerRequest finished;
  finished.mutable_download_finished();
  ASSERT_TRUE((*conn)->Send(finished));
  (*conn)->Close();

  auto stub = sv1::Scheduler::NewStub(channels.Get(address));
  grpc::ClientContext ctx;
  sv1::StatTaskRequest request;
  request.set_task_id(task_id);
  sv1::StatTaskResponse stat;
  ASSERT_TRUE(stub->StatTask(&ctx, request, &stat).ok());
  EXPECT_EQ(stat.known_piece_digests(), kPieces);
  EXPECT_EQ(stat.succeeded_peer_count(), 1u);
}

}  // namespace
}  // namespace feilong::daemon
