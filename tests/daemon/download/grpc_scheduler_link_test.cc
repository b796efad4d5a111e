// GrpcSchedulerLink against a real in-process scheduler and against
// addresses that never answer: opening, failing over and closing streams
// without any thread waiting for a scheduler.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <vector>

#include "common/scoped_fd.h"
#include "daemon/download/scheduler_connection.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_service.h"

namespace feilong::daemon {
namespace {

namespace sv1 = feilong::scheduler::v1;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::unique_ptr<scheduler::Server> StartScheduler() {
  scheduler::SchedulerConfig config;
  config.listen = "127.0.0.1:0";
  config.metrics_listen = "";
  config.tls.enabled = false;
  auto server = scheduler::Server::Start(config);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// A port that takes TCP connections (the kernel's backlog) and never says
// a word: a scheduler that hangs.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_.get(), 64), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    address_ = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  const std::string& address() const { return address_; }

 private:
  ScopedFd fd_;
  std::string address_;
};

sv1::Register Registration(const std::string& task_id) {
  sv1::Register reg;
  reg.set_task_id(task_id);
  reg.set_peer_id("peer-" + task_id.substr(0, 8));
  reg.mutable_host()->set_id("host-1");
  reg.mutable_host()->set_ip("127.0.0.1");
  reg.mutable_spec()->set_url("http://127.0.0.1:1/file");
  return reg;
}

// A task id whose rendezvous order puts `first` first.
std::string TaskRankingFirst(const std::vector<std::string>& addresses, const std::string& first) {
  for (int i = 0;; ++i) {
    std::string task_id = std::string(63, 'a') + static_cast<char>('a' + i % 26);
    task_id[0] = static_cast<char>('a' + i / 26);
    if (RankSchedulers(addresses, task_id).front() == first) {
      return task_id;
    }
  }
}

using Opened = Result<std::shared_ptr<SchedulerStream>>;

std::future<Opened> Open(GrpcSchedulerLink& link, const sv1::Register& reg) {
  auto promise = std::make_shared<std::promise<Opened>>();
  auto future = promise->get_future();
  link.Open(
      reg, [](sv1::AnnouncePeerResponse) {}, [](Status) {},
      [promise](Opened opened) { promise->set_value(std::move(opened)); });
  return future;
}

TEST(GrpcSchedulerLinkTest, LastReportsReachTheSchedulerBeforeTheStreamEnds) {
  auto server = StartScheduler();
  ASSERT_TRUE(server);
  const std::string address = server->address();
  constexpr uint32_t kPieces = 200;
  const std::string task_id(64, 'a');
  sv1::Register reg = Registration(task_id);
  reg.mutable_host()->set_type(sv1::HOST_TYPE_SEED);

  SchedulerChannels channels;
  GrpcSchedulerLink link(channels, {address}, std::chrono::seconds(5));
  Opened opened = Open(link, reg).get();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::shared_ptr<SchedulerStream> stream = std::move(opened).value();

  sv1::AnnouncePeerRequest known;
  known.mutable_content_length_known()->set_content_length(uint64_t{kPieces} * 4096);
  known.mutable_content_length_known()->set_piece_length(4096);
  ASSERT_TRUE(stream->Send(known));
  for (uint32_t n = 0; n < kPieces; ++n) {
    sv1::AnnouncePeerRequest piece;
    piece.mutable_piece_finished()->set_number(n);
    piece.mutable_piece_finished()->set_sha256(std::string(32, static_cast<char>(n)));
    ASSERT_TRUE(stream->Send(piece));
  }
  sv1::AnnouncePeerRequest finished;
  finished.mutable_download_finished();
  ASSERT_TRUE(stream->Send(finished));
  stream.reset();  // closes without waiting
  link.Stop();     // waits for the scheduler to end the stream

  auto stub = sv1::Scheduler::NewStub(channels.Get(address));
  grpc::ClientContext ctx;
  sv1::StatTaskRequest request;
  request.set_task_id(task_id);
  sv1::StatTaskResponse stat;
  ASSERT_TRUE(stub->StatTask(&ctx, request, &stat).ok());
  EXPECT_EQ(stat.known_piece_digests(), kPieces);
  EXPECT_EQ(stat.succeeded_peer_count(), 1u);
}

// A scheduler that hangs is given up at the connect timeout and the next
// one in the order takes the stream; many downloads opening at once wait
// out that timeout together, not one after another on a few threads.
TEST(GrpcSchedulerLinkTest, AHangingSchedulerIsLeftAtTheConnectTimeoutForTheNext) {
  auto server = StartScheduler();
  ASSERT_TRUE(server);
  SilentListener silent;
  const std::vector<std::string> addresses = {silent.address(), server->address()};
  const std::string task_id = TaskRankingFirst(addresses, silent.address());
  // A breaker that never opens: every open meets the hanging scheduler.
  SchedulerChannels channels(CircuitBreakerConfig{1000, std::chrono::seconds(1), 1});
  constexpr milliseconds kConnectTimeout{400};
  GrpcSchedulerLink link(channels, addresses, kConnectTimeout);

  constexpr int kOpens = 32;
  const auto start = steady_clock::now();
  std::vector<std::future<Opened>> futures;
  for (int i = 0; i < kOpens; ++i) {
    futures.push_back(Open(link, Registration(task_id)));
  }
  EXPECT_LT(steady_clock::now() - start, kConnectTimeout) << "Open must return at once";
  for (auto& future : futures) {
    Opened opened = future.get();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ((*opened)->address(), server->address());
  }
  const auto elapsed = steady_clock::now() - start;
  EXPECT_GE(elapsed, kConnectTimeout);
  // One after another on 4 threads this took 32 / 4 x 400 ms = 3.2 s.
  EXPECT_LT(elapsed, 4 * kConnectTimeout);
}

TEST(GrpcSchedulerLinkTest, NoSchedulerAnsweringNamesEveryAddressTried) {
  SilentListener first;
  SilentListener second;
  SchedulerChannels channels(CircuitBreakerConfig{2, std::chrono::seconds(60), 1});
  GrpcSchedulerLink link(channels, {first.address(), second.address()}, milliseconds(200));
  Opened opened = Open(link, Registration(std::string(64, 'b'))).get();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.status().message().find(first.address()), std::string::npos)
      << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(second.address()), std::string::npos)
      << opened.status().ToString();

  // After a second failure each, their circuits open: skipped at once.
  (void)Open(link, Registration(std::string(64, 'c'))).get();
  const auto start = steady_clock::now();
  Opened skipped = Open(link, Registration(std::string(64, 'd'))).get();
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.status().message().find("circuit open"), std::string::npos)
      << skipped.status().ToString();
  EXPECT_LT(steady_clock::now() - start, milliseconds(200));
}

TEST(GrpcSchedulerLinkTest, StopCancelsOpensUnderWay) {
  SilentListener silent;
  SchedulerChannels channels;
  GrpcSchedulerLink link(channels, {silent.address()}, std::chrono::seconds(60));
  auto future = Open(link, Registration(std::string(64, 'e')));
  EXPECT_EQ(future.wait_for(milliseconds(100)), std::future_status::timeout);
  link.Stop();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready)
      << "Stop returns once every call has ended";
  Opened opened = future.get();
  EXPECT_EQ(opened.status().code(), StatusCode::kCancelled) << opened.status().ToString();

  Opened after = Open(link, Registration(std::string(64, 'f'))).get();
  EXPECT_EQ(after.status().code(), StatusCode::kCancelled) << after.status().ToString();
}

}  // namespace
}  // namespace feilong::daemon
