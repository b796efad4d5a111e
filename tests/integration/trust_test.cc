// Trust and access, end to end with real processes: a rogue speaking the
// scheduler API, local users trying to write through the daemon, strangers
// calling TriggerDownload, and a wrong --digest.
#include <arpa/inet.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "common/digest.h"
#include "common/host_port.h"
#include "common/task_id.h"
#include "feilong/daemon/v1/daemon.grpc.pb.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"
#include "integration/cluster.h"
#include "source/url.h"
#include "support/nginx_origin.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

namespace sv1 = feilong::scheduler::v1;
namespace dv1 = feilong::daemon::v1;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uid_t kAlice = 61001;
constexpr uid_t kBob = 61002;

std::string FileDigest(const std::string& path) {
  auto d = Sha256File(path);
  return d.ok() ? Sha256String(*d) : "missing: " + d.status().ToString();
}

// Under /private/ the origin wants this bearer token (401 otherwise).
constexpr char kToken[] = "Bearer letmein-2a7f";

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::NginxOrigin::Options options;
    options.root = www_.path();
    options.extra_server_config =
        std::string("location /private/ { if ($http_authorization != \"") + kToken +
        "\") { return 401; } }";
    auto origin = test::NginxOrigin::Start(options);
    ASSERT_TRUE(origin.ok()) << origin.status().ToString();
    origin_ = std::move(origin).value();
  }

  std::string Publish(const std::string& name, uint64_t size, uint64_t seed = 1) {
    EXPECT_TRUE(test::WriteRandomFile(www_.Path(name), size, seed).ok());
    return FileDigest(www_.Path(name));
  }

  test::TempDir www_;
  test::TempDir out_;
  std::unique_ptr<test::NginxOrigin> origin_;
};

// Speaks the scheduler API like a peer would, and lies: it registers for a
// task before anyone else and reports a short length and forged digests of
// every piece, as if it had fetched them from the origin.
class RoguePeer {
 public:
  RoguePeer(const std::string& scheduler, const std::string& url, uint64_t claimed_length,
            uint32_t piece_length)
      : stub_(sv1::Scheduler::NewStub(
            grpc::CreateChannel(scheduler, grpc::InsecureChannelCredentials()))) {
    stream_ = stub_->AnnouncePeer(&context_);
    sv1::AnnouncePeerRequest reg;
    auto* r = reg.mutable_register_();
    r->set_task_id(UrlTaskId(*source::NormalizeUrlForTaskId(url), "", "", 0));
    r->set_peer_id("rogue-peer");
    r->mutable_host()->set_id("rogue-host");
    r->mutable_host()->set_hostname("rogue");
    r->mutable_host()->set_ip("127.0.0.1");
    r->mutable_host()->set_peer_port(1);
    r->mutable_host()->set_piece_port(1);
    r->mutable_spec()->set_url(url);
    ok_ = stream_->Write(reg);
    sv1::AnnouncePeerRequest length;
    length.mutable_content_length_known()->set_content_length(claimed_length);
    length.mutable_content_length_known()->set_piece_length(piece_length);
    ok_ = ok_ && stream_->Write(length);
    sv1::AnnouncePeerRequest started;
    started.mutable_back_to_source_started();
    ok_ = ok_ && stream_->Write(started);
    const uint64_t pieces = (claimed_length + piece_length - 1) / piece_length;
    for (uint32_t n = 0; n < pieces; ++n) {
      sv1::AnnouncePeerRequest piece;
      piece.mutable_piece_finished()->set_number(n);
      piece.mutable_piece_finished()->set_sha256(std::string(32, 'z'));
      ok_ = ok_ && stream_->Write(piece);
    }
  }
  ~RoguePeer() {
    context_.TryCancel();
    stream_->Finish().ok();
  }
  bool ok() const { return ok_; }

 private:
  std::unique_ptr<sv1::Scheduler::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<sv1::AnnouncePeerRequest, sv1::AnnouncePeerResponse>>
      stream_;
  bool ok_ = false;
};

TEST_F(TrustTest, ARogueReportingBeforeTheSeedPoisonsNothing) {
  const uint64_t size = 24 * kMiB + 7;
  std::string want = Publish("model.bin", size);
  Cluster cluster({.peers = 3});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/model.bin");
  RoguePeer rogue(cluster.scheduler_address(), url, size - kMiB, source::DefaultPieceLength(size));
  ASSERT_TRUE(rogue.ok());

  std::vector<FlgetSummary> results(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cluster.Flget(cluster.peer(i), url, out_.Path("p" + std::to_string(i)));
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(results[i].exit_code, 0) << results[i].output;
    EXPECT_EQ(FileDigest(out_.Path("p" + std::to_string(i))), want) << "peer " << i;
    EXPECT_EQ(results[i].from_peers, size) << "peer " << i << ": " << results[i].output;
  }
  uint64_t served = origin_->BytesServed("/model.bin");
  EXPECT_LE(served, size * 105 / 100) << "origin served " << served << " bytes";
}

TEST_F(TrustTest, AWrongDigestLeavesTheExistingFileAndIsNeverServed) {
  std::string want = Publish("d.bin", 5 * kMiB);
  Cluster cluster({.peers = 2});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/d.bin");
  ASSERT_TRUE(test::WriteFile(out_.Path("keep"), "the user's own file").ok());
  std::string wrong = Sha256String(Sha256(std::string_view("something else")));
  FlgetSummary bad = cluster.Flget(cluster.peer(0), url, out_.Path("keep"), {"--digest", wrong});
  EXPECT_EQ(bad.exit_code, 6) << bad.output;
  EXPECT_EQ(*test::ReadFile(out_.Path("keep")), "the user's own file");
  // The wrong digest names its own task, which was removed: nothing under
  // it is complete anywhere, and the right digest still works P2P.
  for (int i = 0; i < 2; ++i) {
    FlgetSummary ok = cluster.Flget(cluster.peer(i), url, out_.Path("ok" + std::to_string(i)),
                                    {"--digest", want});
    ASSERT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(FileDigest(out_.Path("ok" + std::to_string(i))), want);
  }
  // Same bytes under another URL with the digest: the same task, from cache.
  ASSERT_EQ(::link(www_.Path("d.bin").c_str(), www_.Path("alias.bin").c_str()), 0);
  FlgetSummary alias = cluster.Flget(cluster.peer(0), origin_->Url("/alias.bin"),
                                     out_.Path("alias"), {"--digest", want});
  ASSERT_EQ(alias.exit_code, 0) << alias.output;
  EXPECT_EQ(alias.from_cache, 5 * kMiB) << alias.output;
  EXPECT_EQ(origin_->RequestCount("/alias.bin"), 0u);
  // A missing output directory is bad input (exit 2), not "not found".
  FlgetSummary missing = cluster.Flget(cluster.peer(0), url, out_.Path("no/such/dir/x"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
}

TEST_F(TrustTest, APrivateTaskGoesOnlyToPeersWithAccess) {
  const uint64_t size = 12 * kMiB + 5;
  ASSERT_TRUE(std::filesystem::create_directories(www_.Path("private")));
  std::string want = Publish("private/secret.bin", size);
  Cluster cluster({.peers = 3});
  ASSERT_TRUE(cluster.Start());
  const std::string url = origin_->Url("/private/secret.bin");
  const std::vector<std::string> with_token = {"-H", std::string("Authorization: ") + kToken};

  FlgetSummary first = cluster.Flget(cluster.peer(0), url, out_.Path("p0"), with_token);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(FileDigest(out_.Path("p0")), want);
  // Another host with the credentials: checked at the origin, then P2P.
  FlgetSummary second = cluster.Flget(cluster.peer(1), url, out_.Path("p1"), with_token);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(FileDigest(out_.Path("p1")), want);
  EXPECT_EQ(second.from_peers, size) << second.output;
  EXPECT_LE(origin_->BytesServed("/private/secret.bin"), size * 105 / 100);

  // A host without them is sent to the origin with its own request: 401.
  FlgetSummary stranger = cluster.Flget(cluster.peer(2), url, out_.Path("p2"));
  EXPECT_EQ(stranger.exit_code, 7) << stranger.output;
  EXPECT_FALSE(std::filesystem::exists(out_.Path("p2")));
  // Nor does the cache of a host that holds it serve a local user without them.
  FlgetSummary local = cluster.Flget(cluster.peer(0), url, out_.Path("p0-again"));
  EXPECT_EQ(local.exit_code, 7) << local.output;
  EXPECT_FALSE(std::filesystem::exists(out_.Path("p0-again")));

  // Straight at a holder's piece server: 403 without a grant, with a made-up
  // one, for a piece held or not, and no byte of the content.
  const uint16_t port = Cluster::ReadyPort(cluster.peer(0), "piece_port");
  ASSERT_NE(port, 0);
  const std::string task = UrlTaskId(*source::NormalizeUrlForTaskId(url), "", "", 0);
  for (const std::string& target : {"/pieces/" + task + "/0", "/pieces/" + task + "/2"}) {
    auto bare = test::RawHttpRequest(port, "GET", target);
    ASSERT_TRUE(bare.ok()) << bare.status().ToString();
    EXPECT_EQ(bare->status, 403) << target;
    EXPECT_EQ(bare->headers.count("x-feilong-piece-digest"), 0u);
  }
  auto forged = test::RawHttpConnection::Connect(port);
  ASSERT_TRUE(forged.ok());
  ASSERT_TRUE(forged
                  ->Send("GET /pieces/" + task + "/0 HTTP/1.1\r\nHost: x\r\nX-Feilong-Grant: fg1|" +
                         task + "|9999999999|127.0.0.1|" + std::string(128, 'a') + "\r\n\r\n")
                  .ok());
  auto forged_reply = forged->ReadResponse();
  ASSERT_TRUE(forged_reply.ok());
  EXPECT_EQ(forged_reply->status, 403);
  // The piece list over the peer API is refused too.
  auto channel = grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(Cluster::ReadyPort(cluster.peer(0), "peer_port")),
      grpc::InsecureChannelCredentials());
  auto stub = dv1::Peer::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  dv1::SyncPiecesRequest sync;
  sync.set_task_id(task);
  sync.set_peer_id("stranger");
  auto reader = stub->SyncPieces(&context, sync);
  dv1::PieceAvailability availability;
  EXPECT_FALSE(reader->Read(&availability));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Runs flget as another user, with no supplementary group.
FlgetSummary FlgetAs(uid_t uid, const Cluster::Node& node, const std::string& url,
                     const std::string& output, const std::string& log) {
  auto result = RunCommand({"/usr/bin/setpriv", "--reuid=" + std::to_string(uid),
                            "--regid=" + std::to_string(uid), "--clear-groups", BinaryPath("flget"),
                            "--socket", node.socket, "--no-progress", url, "-O", output},
                           log);
  FlgetSummary summary;
  summary.exit_code = result.exit_code;
  summary.output = result.output;
  return summary;
}

TEST_F(TrustTest, LocalUsersWriteOnlyWhereTheyCould) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to have two other users";
  Publish("u.bin", 3 * kMiB);
  test::TempDir config_dir;
  ASSERT_TRUE(
      test::WriteFile(config_dir.Path("fld.yaml"), "server:\n  socket_mode: \"0666\"\n").ok());
  Cluster cluster({.peers = 1, .fld_args = {"--config", config_dir.Path("fld.yaml")}});
  ASSERT_TRUE(cluster.Start());
  // The users must reach the socket; the store stays the daemon's.
  ASSERT_EQ(::chmod(cluster.dir().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(out_.path().c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(out_.Path("alice").c_str(), 0755), 0);
  ASSERT_EQ(::chown(out_.Path("alice").c_str(), kAlice, kAlice), 0);
  ASSERT_TRUE(test::WriteFile(out_.Path("alice/notes"), "alice's notes").ok());
  ASSERT_EQ(::chown(out_.Path("alice/notes").c_str(), kAlice, kAlice), 0);
  ASSERT_TRUE(test::WriteFile(out_.Path("root-file"), "root's").ok());
  std::string url = origin_->Url("/u.bin");

  // Bob may not replace Alice's file, nor root's, nor create in Alice's dir.
  for (const std::string& target :
       {out_.Path("alice/notes"), out_.Path("root-file"), out_.Path("alice/new")}) {
    FlgetSummary r = FlgetAs(kBob, cluster.peer(0), url, target, out_.Path("bob.log"));
    EXPECT_EQ(r.exit_code, 7) << target << ": " << r.output;
    EXPECT_NE(r.output.find("ermission denied"), std::string::npos) << r.output;
  }
  EXPECT_EQ(*test::ReadFile(out_.Path("alice/notes")), "alice's notes");
  EXPECT_EQ(*test::ReadFile(out_.Path("root-file")), "root's");
  struct stat st {};
  EXPECT_NE(::stat(out_.Path("alice/new").c_str(), &st), 0);

  // Alice may, and the file is hers.
  FlgetSummary r =
      FlgetAs(kAlice, cluster.peer(0), url, out_.Path("alice/notes"), out_.Path("alice.log"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(::stat(out_.Path("alice/notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kAlice);
  EXPECT_EQ(FileDigest(out_.Path("alice/notes")), FileDigest(www_.Path("u.bin")));
}

// A gRPC channel to `target` whose connection leaves from `source_ip`, so a
// test on loopback can call from an address that is no scheduler's.
std::shared_ptr<grpc::Channel> ChannelFrom(const std::string& source_ip,
                                           const std::string& target) {
  auto address = ParseHostPort(target);
  if (!address.ok()) return nullptr;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source_ip.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(address->port);
  ::inet_pton(AF_INET, address->host.c_str(), &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    ::close(fd);
    return nullptr;
  }
  return grpc::CreateInsecureChannelFromFd(target, fd);
}

grpc::Status Trigger(const std::shared_ptr<grpc::Channel>& channel, const std::string& url) {
  auto stub = dv1::Peer::NewStub(channel);
  dv1::TriggerDownloadRequest request;
  request.mutable_spec()->set_url(url);
  request.set_task_id(UrlTaskId(*source::NormalizeUrlForTaskId(url), "", "", 0));
  dv1::TriggerDownloadResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return stub->TriggerDownload(&context, request, &response);
}

// The peer API address of a started daemon, from its "fld ready" line.
std::string PeerAddress(const Cluster::Node& node) {
  std::smatch m;
  static const std::regex kReady(R"(fld ready .*peer_port=(\d+))");
  std::string log = node.process->Log();
  return std::regex_search(log, m, kReady) ? "127.0.0.1:" + m[1].str() : "";
}

TEST_F(TrustTest, OnlyTheSchedulerTriggersAndOnlySeedsAnswer) {
  Publish("t.bin", kMiB);
  Cluster cluster({.peers = 1});
  ASSERT_TRUE(cluster.Start());
  std::string url = origin_->Url("/t.bin");
  // From an address that is not the scheduler's, to the seed.
  auto stranger = ChannelFrom("127.0.0.2", PeerAddress(cluster.seed()));
  ASSERT_NE(stranger, nullptr);
  grpc::Status refused = Trigger(stranger, url);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("no configured scheduler"), std::string::npos);
  // To a peer that is not a seed, from anywhere.
  auto to_peer =
      grpc::CreateChannel(PeerAddress(cluster.peer(0)), grpc::InsecureChannelCredentials());
  grpc::Status not_seed = Trigger(to_peer, url);
  EXPECT_EQ(not_seed.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(origin_->RequestCount("/t.bin"), 0u) << "nobody fetched for the stranger";
  // The scheduler's own triggers still work: a download goes P2P via the seed.
  FlgetSummary r = cluster.Flget(cluster.peer(0), url, out_.Path("t"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.from_peers, kMiB) << r.output;
}

TEST_F(TrustTest, ASeedRefusesOriginsOnItsOwnLoopbackByDefault) {
  Publish("l.bin", 2 * kMiB);
  Cluster cluster({.peers = 1, .seed_allows_loopback = false});
  ASSERT_TRUE(cluster.Start());
  // The seed is asked for a URL on its own loopback and refuses; the peer,
  // whose own user asked, fetches it itself.
  FlgetSummary r = cluster.Flget(cluster.peer(0), origin_->Url("/l.bin"), out_.Path("l"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.from_origin, 2 * kMiB) << r.output;
  EXPECT_NE(cluster.seed().process->Log().find("origin policy refuses 127.0.0.1 (loopback)"),
            std::string::npos);
  EXPECT_LE(origin_->AccessLog().size(), 2u) << "the peer's probe and one range; none by the seed";
}

TEST_F(TrustTest, CredentialsNeverReachALog) {
  Publish("s.bin", 3 * kMiB);
  Cluster cluster({.peers = 2});  // every process logs at debug level
  ASSERT_TRUE(cluster.Start());
  const std::string query =
      "?X-Amz-Signature=SECRET-sig&X-Amz-Credential=SECRET-cred&token=SECRET-t";
  for (int i = 0; i < 2; ++i) {
    FlgetSummary r = cluster.Flget(cluster.peer(i), origin_->Url("/s.bin" + query),
                                   out_.Path("s" + std::to_string(i)),
                                   {"-H", "Authorization: Bearer SECRET-bearer"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output.find("SECRET"), std::string::npos) << r.output;
  }
  // Failures print and log their URL too.
  FlgetSummary missing =
      cluster.Flget(cluster.peer(0), origin_->Url("/gone.bin" + query), out_.Path("gone"),
                    {"-H", "Authorization: Bearer SECRET-b2"});
  EXPECT_EQ(missing.exit_code, 4) << missing.output;
  EXPECT_EQ(missing.output.find("SECRET"), std::string::npos) << missing.output;
  cluster.StopScheduler();  // flush and close every log
  cluster.StopNode(cluster.seed());
  int scanned = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir())) {
    if (!entry.is_regular_file() || entry.path().extension() != ".log") continue;
    ++scanned;
    auto text = test::ReadFile(entry.path().string());
    ASSERT_TRUE(text.ok());
    size_t at = text->find("SECRET");
    EXPECT_EQ(at, std::string::npos)
        << entry.path() << ": "
        << text->substr(at == std::string::npos ? 0 : at - std::min<size_t>(at, 200), 300);
  }
  EXPECT_GE(scanned, 4) << "the scheduler, the seed and both peers logged";
}

}  // namespace
}  // namespace feilong::testing
