// Mutual TLS between flsched and fld (the `tls:` block), with certificates
// made by scripts/make-certs: downloads go P2P over it, and a caller
// without a certificate, with one from another CA, or with an expired one is
// refused; a rotated CA is picked up without a restart, during a download,
// and on SIGHUP only a whole set is taken.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <thread>

#include "common/digest.h"
#include "feilong/daemon/v1/daemon.grpc.pb.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"
#include "integration/cluster.h"
#include "support/nginx_origin.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

namespace sv1 = feilong::scheduler::v1;
namespace dv1 = feilong::daemon::v1;

constexpr uint64_t kMiB = 1024 * 1024;

std::string FileDigest(const std::string& path) {
  auto d = Sha256File(path);
  return d.ok() ? Sha256String(*d) : "missing: " + d.status().ToString();
}

// scripts/make-certs DIR NAME:127.0.0.1,localhost with DAYS=`days`; NAME
// may carry roles ("node@seed+scheduler"); the files are named without them.
::testing::AssertionResult MakeCerts(const std::string& dir, const std::string& name,
                                     const std::string& log, const std::string& days = "365") {
  auto result = RunCommand(
      {"/usr/bin/env", "DAYS=" + days, "bash",
       std::string(FEILONG_SOURCE_DIR) + "/scripts/make-certs", dir, name + ":127.0.0.1,localhost"},
      log);
  if (result.exit_code != 0) {
    return ::testing::AssertionFailure() << "make-certs failed: " << result.output;
  }
  return ::testing::AssertionSuccess();
}

std::string ReadAll(const std::string& path) {
  auto text = test::ReadFile(path);
  return text.ok() ? *text : "";
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::NginxOrigin::Options options;
    options.root = www_.path();
    // Downloads from here last seconds: long enough to rotate under them.
    options.extra_server_config = "location /slow/ { limit_rate 2m; }";
    auto origin = test::NginxOrigin::Start(options);
    ASSERT_TRUE(origin.ok()) << origin.status().ToString();
    origin_ = std::move(origin).value();
    // One certificate for every process: it may be a seed and a scheduler.
    ASSERT_TRUE(MakeCerts(certs_.path(), "node@seed+scheduler", certs_.Path("make.log")));
    ASSERT_TRUE(MakeCerts(certs_.path(), "peer", certs_.Path("make.log")));
    ASSERT_TRUE(MakeCerts(certs_.path(), "seedonly@seed", certs_.Path("make.log")));
    ASSERT_TRUE(MakeCerts(certs_.path(), "expired", certs_.Path("make.log"), "-1"));
    ASSERT_TRUE(MakeCerts(other_ca_.path(), "stranger", other_ca_.Path("make.log")));
    config_ = certs_.Path("tls.yaml");
    std::string tls = "tls:\n  enabled: true\n  ca_file: " + certs_.Path("ca.pem") +
                      "\n  cert_file: " + certs_.Path("node.pem") +
                      "\n  key_file: " + certs_.Path("node.key") + "\n  reload_interval: 1s\n";
    ASSERT_TRUE(test::WriteFile(config_, tls).ok());
  }

  ClusterOptions Options(int peers) {
    return ClusterOptions{.peers = peers,
                          .scheduler_args = {"--config", config_},
                          .fld_args = {"--config", config_},
                          .plaintext = false};
  }

  // StatTask on the scheduler with the given client credentials: OK or
  // NOT_FOUND mean the call got through TLS.
  static grpc::Status CallScheduler(const std::string& address,
                                    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
    auto stub = sv1::Scheduler::NewStub(grpc::CreateChannel(address, credentials));
    sv1::StatTaskRequest request;
    request.set_task_id(std::string(64, 'a'));
    sv1::StatTaskResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    return stub->StatTask(&context, request, &response);
  }

  std::shared_ptr<grpc::ChannelCredentials> Client(const std::string& ca, const std::string& dir,
                                                   const std::string& name) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadAll(ca);
    options.pem_private_key = ReadAll(dir + "/" + name + ".key");
    options.pem_cert_chain = ReadAll(dir + "/" + name + ".pem");
    return grpc::SslCredentials(options);
  }

  test::TempDir www_;
  test::TempDir out_;
  test::TempDir certs_;
  test::TempDir other_ca_;
  std::string config_;
  std::unique_ptr<test::NginxOrigin> origin_;
};

TEST_F(TlsTest, DownloadsGoPeerToPeerOverMutualTls) {
  ASSERT_TRUE(test::WriteRandomFile(www_.Path("f.bin"), 8 * kMiB, 3).ok());
  Cluster cluster(Options(2));
  ASSERT_TRUE(cluster.Start());
  for (int i = 0; i < 2; ++i) {
    FlgetSummary r =
        cluster.Flget(cluster.peer(i), origin_->Url("/f.bin"), out_.Path(std::to_string(i)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.from_peers, 8 * kMiB) << r.output;
    EXPECT_EQ(FileDigest(out_.Path(std::to_string(i))), FileDigest(www_.Path("f.bin")));
  }
  EXPECT_LE(origin_->BytesServed("/f.bin"), 8 * kMiB * 105 / 100);
}

// TLS is on by default: without certificates neither binary starts, and
// the error says how to make them or to ask for plaintext.
TEST_F(TlsTest, NothingStartsWithoutCertificatesUnlessPlaintextIsAsked) {
  const std::vector<std::vector<std::string>> commands = {
      {BinaryPath("flsched"), "--listen", "127.0.0.1:0", "--metrics-listen", ""},
      {BinaryPath("fld"), "--data-dir", out_.Path("store"), "--peer-listen", "127.0.0.1:0",
       "--piece-listen", "127.0.0.1:0", "--metrics-listen", "off"}};
  for (const auto& argv : commands) {
    CommandResult refused = RunCommand(argv, out_.Path("refused.log"), std::chrono::seconds(20));
    EXPECT_EQ(refused.exit_code, 2) << refused.output;
    EXPECT_NE(refused.output.find("TLS between hosts is on by default"), std::string::npos)
        << refused.output;
    EXPECT_NE(refused.output.find("scripts/make-certs"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("--plaintext"), std::string::npos) << refused.output;
  }
  // A tls: block that turns TLS on without files names the missing key.
  ASSERT_TRUE(
      test::WriteFile(out_.Path("half.yaml"), "tls:\n  ca_file: " + certs_.Path("ca.pem") + "\n")
          .ok());
  CommandResult half = RunCommand(
      {BinaryPath("flsched"), "--config", out_.Path("half.yaml"), "--listen", "127.0.0.1:0"},
      out_.Path("half.log"), std::chrono::seconds(20));
  EXPECT_EQ(half.exit_code, 2) << half.output;
  EXPECT_NE(half.output.find("tls.cert_file"), std::string::npos) << half.output;
  // Asked for, plaintext starts, with a warning.
  ChildProcess plain(
      {BinaryPath("flsched"), "--listen", "127.0.0.1:0", "--metrics-listen", "", "--plaintext"},
      out_.Path("plain.log"));
  ASSERT_TRUE(plain.WaitForLine("listening on", std::chrono::seconds(15))) << plain.Log();
  EXPECT_NE(plain.Log().find("tls_disabled"), std::string::npos) << plain.Log();
}

TEST_F(TlsTest, CallersWithoutAGoodCertificateAreRefused) {
  Cluster cluster(Options(0));
  ASSERT_TRUE(cluster.Start());
  const std::string& address = cluster.scheduler_address();
  const std::string ca = certs_.Path("ca.pem");
  grpc::Status good = CallScheduler(address, Client(ca, certs_.path(), "node"));
  EXPECT_EQ(good.error_code(), grpc::StatusCode::NOT_FOUND) << good.error_message();

  grpc::Status plaintext = CallScheduler(address, grpc::InsecureChannelCredentials());
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = ReadAll(ca);
  grpc::Status anonymous = CallScheduler(address, grpc::SslCredentials(no_cert));
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE) << anonymous.error_message();
  grpc::Status other_ca = CallScheduler(address, Client(ca, other_ca_.path(), "stranger"));
  EXPECT_EQ(other_ca.error_code(), grpc::StatusCode::UNAVAILABLE) << other_ca.error_message();
  grpc::Status expired = CallScheduler(address, Client(ca, certs_.path(), "expired"));
  EXPECT_EQ(expired.error_code(), grpc::StatusCode::UNAVAILABLE) << expired.error_message();
  // The server's own certificate is checked too: a client trusting another
  // CA does not talk to it.
  grpc::Status wrong_server =
      CallScheduler(address, Client(other_ca_.Path("ca.pem"), other_ca_.path(), "stranger"));
  EXPECT_EQ(wrong_server.error_code(), grpc::StatusCode::UNAVAILABLE);

  // The piece server speaks HTTPS and wants a certificate of the CA too.
  const uint16_t port = Cluster::ReadyPort(cluster.seed(), "piece_port");
  ASSERT_NE(port, 0);
  const std::string piece =
      "://127.0.0.1:" + std::to_string(port) + "/pieces/" + std::string(64, 'a') + "/0";
  auto curl = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-s",         "-o", "/dev/null", "-w",
                                     "%{http_code}",  "--max-time", "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out_.Path("curl.log")).output;
  };
  auto with_cert = [&](const std::string& dir, const std::string& name) {
    return std::vector<std::string>{
        "--cacert",     ca, "--cert", dir + "/" + name + ".pem", "--key", dir + "/" + name + ".key",
        "https" + piece};
  };
  EXPECT_EQ(curl(with_cert(certs_.path(), "node")), "404") << "through TLS, an unknown task";
  EXPECT_EQ(curl({"--cacert", ca, "https" + piece}), "000") << "no client certificate";
  EXPECT_EQ(curl(with_cert(other_ca_.path(), "stranger")), "000") << "another CA";
  EXPECT_EQ(curl(with_cert(certs_.path(), "expired")), "000") << "expired";
  EXPECT_EQ(curl({"http" + piece}), "000") << "plaintext";
}

TEST_F(TlsTest, RolesInCertificatesDecideWhoIsASeedAndWhoTriggersOne) {
  Cluster cluster(Options(0));
  ASSERT_TRUE(cluster.Start());
  const std::string ca = certs_.Path("ca.pem");
  auto announce = [&](const std::string& name, sv1::HostType type) {
    auto stub = sv1::Scheduler::NewStub(
        grpc::CreateChannel(cluster.scheduler_address(), Client(ca, certs_.path(), name)));
    sv1::AnnounceHostRequest request;
    request.mutable_host()->set_id("claimer-" + name);
    request.mutable_host()->set_ip("127.0.0.1");
    request.mutable_host()->set_type(type);
    sv1::AnnounceHostResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    return stub->AnnounceHost(&context, request, &response).error_code();
  };
  EXPECT_EQ(announce("peer", sv1::HOST_TYPE_SEED), grpc::StatusCode::PERMISSION_DENIED)
      << "a certificate without the seed role cannot claim a seed";
  EXPECT_EQ(announce("peer", sv1::HOST_TYPE_NORMAL), grpc::StatusCode::OK);
  EXPECT_EQ(announce("seedonly", sv1::HOST_TYPE_SEED), grpc::StatusCode::OK);

  // TriggerDownload at the seed wants the scheduler role, whatever the address.
  auto trigger = [&](const std::string& name) {
    auto stub = dv1::Peer::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(Cluster::ReadyPort(cluster.seed(), "peer_port")),
        Client(ca, certs_.path(), name)));
    dv1::TriggerDownloadRequest request;
    request.set_task_id(std::string(64, 'a'));
    request.mutable_spec()->set_url(origin_->Url("/none.bin"));
    dv1::TriggerDownloadResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    return stub->TriggerDownload(&context, request, &response).error_code();
  };
  EXPECT_EQ(trigger("peer"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(trigger("seedonly"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(trigger("node"), grpc::StatusCode::INVALID_ARGUMENT)
      << "past the role check, the made-up task id does not match the spec";
}

// A host id belongs to the certificate subject that announced it: another
// certificate of the same CA can neither pose as that host nor make it
// leave, and the cluster carries on.
TEST_F(TlsTest, AHostIdBelongsToTheCertificateThatAnnouncedIt) {
  ASSERT_TRUE(test::WriteRandomFile(www_.Path("f.bin"), 4 * kMiB, 9).ok());
  Cluster cluster(Options(1));
  ASSERT_TRUE(cluster.Start());
  auto stub = sv1::Scheduler::NewStub(grpc::CreateChannel(
      cluster.scheduler_address(), Client(certs_.Path("ca.pem"), certs_.path(), "peer")));
  auto deadline = [](grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  };
  for (const std::string host : {"seed", "peer0"}) {
    sv1::AnnounceHostRequest announce;
    announce.mutable_host()->set_id(host);
    announce.mutable_host()->set_ip("127.0.0.1");
    sv1::AnnounceHostResponse announced;
    grpc::ClientContext announce_context;
    deadline(announce_context);
    grpc::Status posed = stub->AnnounceHost(&announce_context, announce, &announced);
    EXPECT_EQ(posed.error_code(), grpc::StatusCode::PERMISSION_DENIED) << host;
    EXPECT_NE(posed.error_message().find("CN=node"), std::string::npos) << posed.error_message();

    sv1::LeaveHostRequest leave;
    leave.set_host_id(host);
    sv1::LeaveHostResponse left;
    grpc::ClientContext leave_context;
    deadline(leave_context);
    EXPECT_EQ(stub->LeaveHost(&leave_context, leave, &left).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << host;
  }
  EXPECT_TRUE(
      cluster.scheduler_process().WaitForLine("host_claim_refused", std::chrono::seconds(2)));
  // The seed is still the seed: the peer gets every byte from it.
  FlgetSummary r = cluster.Flget(cluster.peer(0), origin_->Url("/f.bin"), out_.Path("f"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.from_peers, 4 * kMiB) << r.output;
}

TEST_F(TlsTest, ARotatedCaIsTakenWithoutARestartAndDownloadsGoOn) {
  ASSERT_TRUE(test::WriteRandomFile(www_.Path("big.bin"), 96 * kMiB, 5).ok());
  Cluster cluster(Options(1));
  ASSERT_TRUE(cluster.Start());
  const std::string& address = cluster.scheduler_address();
  auto stranger = Client(certs_.Path("ca.pem"), other_ca_.path(), "stranger");
  ASSERT_EQ(CallScheduler(address, stranger).error_code(), grpc::StatusCode::UNAVAILABLE);

  FlgetSummary during;
  std::thread download(
      [&] { during = cluster.Flget(cluster.peer(0), origin_->Url("/big.bin"), out_.Path("big")); });
  // Every process now also trusts the second CA (a CA rotation's first step).
  ASSERT_TRUE(test::WriteFile(certs_.Path("node-ca.pem"), ReadAll(certs_.Path("ca.pem"))).ok());
  std::string bundle = ReadAll(certs_.Path("ca.pem")) + ReadAll(other_ca_.Path("ca.pem"));
  ASSERT_TRUE(test::WriteFile(certs_.Path("ca.pem.new"), bundle).ok());
  ASSERT_EQ(::rename(certs_.Path("ca.pem.new").c_str(), certs_.Path("ca.pem").c_str()), 0);
  grpc::Status after;
  for (int i = 0; i < 50; ++i) {
    after = CallScheduler(address, Client(certs_.Path("ca.pem"), other_ca_.path(), "stranger"));
    if (after.error_code() == grpc::StatusCode::NOT_FOUND) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(after.error_code(), grpc::StatusCode::NOT_FOUND)
      << "the new CA was not picked up: " << after.error_message();
  download.join();
  ASSERT_EQ(during.exit_code, 0) << during.output;
  EXPECT_EQ(FileDigest(out_.Path("big")), FileDigest(www_.Path("big.bin")));
  // The piece servers took the new bundle too: the second CA's certificate
  // now gets through the handshake (404: an unknown task).
  const uint16_t port = Cluster::ReadyPort(cluster.seed(), "piece_port");
  auto stranger_piece = RunCommand(
      {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
       "--cacert", certs_.Path("node-ca.pem"), "--cert", other_ca_.Path("stranger.pem"), "--key",
       other_ca_.Path("stranger.key"),
       "https://127.0.0.1:" + std::to_string(port) + "/pieces/" + std::string(64, 'a') + "/0"},
      out_.Path("curl.log"));
  EXPECT_EQ(stranger_piece.output, "404");
}

}  // namespace
// SIGHUP with tls.reload_interval at an hour: only the signal rotates. A set
// that is whole on disk but not trusted by the CA bundle in use (a
// rotation's steps done out of order) is refused and the set in use stays;
// once the bundle trusts it, SIGHUP takes it, within a second, without
// dropping the download under way.
TEST_F(TlsTest, SighupTakesOnlyAWholeSetAndDownloadsGoOn) {
  // 32 MiB at 2 MiB/s per origin connection, 4 connections: about 4 s.
  ASSERT_TRUE(std::filesystem::create_directories(www_.Path("slow")));
  ASSERT_TRUE(test::WriteRandomFile(www_.Path("slow/big.bin"), 32 * kMiB, 7).ok());
  std::string hourly = ReadAll(config_);
  hourly.replace(hourly.find("reload_interval: 1s"), 19, "reload_interval: 1h");
  ASSERT_TRUE(test::WriteFile(config_, hourly).ok());
  Cluster cluster(Options(1));
  ASSERT_TRUE(cluster.Start());
  const std::string& address = cluster.scheduler_address();
  ChildProcess& scheduler = cluster.scheduler_process();
  // The new CA's certificate for every process, made beside the old one.
  ASSERT_TRUE(MakeCerts(other_ca_.path(), "node@seed+scheduler", other_ca_.Path("make.log")));
  const std::string old_ca = ReadAll(certs_.Path("ca.pem"));
  const std::string new_ca = ReadAll(other_ca_.Path("ca.pem"));

  FlgetSummary during;
  std::atomic<bool> finished = false;
  std::thread download([&] {
    during = cluster.Flget(cluster.peer(0), origin_->Url("/slow/big.bin"), out_.Path("big"));
    finished = true;
  });
  // Out of order: the new certificate and key before the bundle trusts them.
  ASSERT_TRUE(test::WriteFile(certs_.Path("node.pem"), ReadAll(other_ca_.Path("node.pem"))).ok());
  ASSERT_TRUE(test::WriteFile(certs_.Path("node.key"), ReadAll(other_ca_.Path("node.key"))).ok());
  scheduler.Signal(SIGHUP);
  cluster.seed().process->Signal(SIGHUP);
  cluster.peer(0).process->Signal(SIGHUP);
  ASSERT_TRUE(scheduler.WaitForLine("tls_reload_refused", std::chrono::seconds(5)))
      << scheduler.Log();
  EXPECT_NE(scheduler.Log().find("is refused by tls.ca_file"), std::string::npos);
  ASSERT_TRUE(cluster.seed().process->WaitForLine("tls_reload_refused", std::chrono::seconds(5)));
  // The set in use stays: a client trusting only the old CA still gets in.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(
      CallScheduler(address, Client(certs_.Path("ca.pem"), certs_.path(), "peer")).error_code(),
      grpc::StatusCode::NOT_FOUND);

  // The bundle now trusts both CAs: the whole set is taken.
  ASSERT_TRUE(test::WriteFile(certs_.Path("ca.pem"), old_ca + new_ca).ok());
  scheduler.Signal(SIGHUP);
  cluster.seed().process->Signal(SIGHUP);
  cluster.peer(0).process->Signal(SIGHUP);
  ASSERT_TRUE(scheduler.WaitForLine("tls_reloaded generation=2", std::chrono::seconds(5)))
      << scheduler.Log();
  EXPECT_FALSE(finished) << "the download ended before the rotation: nothing was shown";
  // A client that trusts only the new CA gets the scheduler's new
  // certificate (and its own, from the new CA, is accepted).
  grpc::Status after;
  for (int i = 0; i < 25; ++i) {
    after = CallScheduler(address, Client(other_ca_.Path("ca.pem"), other_ca_.path(), "stranger"));
    if (after.error_code() == grpc::StatusCode::NOT_FOUND) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(after.error_code(), grpc::StatusCode::NOT_FOUND) << after.error_message();
  download.join();
  ASSERT_EQ(during.exit_code, 0) << during.output;
  EXPECT_EQ(FileDigest(out_.Path("big")), FileDigest(www_.Path("slow/big.bin")));
  // And the next download, with every process on the new set, goes P2P.
  ASSERT_TRUE(test::WriteRandomFile(www_.Path("after.bin"), 8 * kMiB, 8).ok());
  FlgetSummary next =
      cluster.Flget(cluster.peer(0), origin_->Url("/after.bin"), out_.Path("after"));
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_EQ(next.from_peers, 8 * kMiB) << next.output;
  EXPECT_EQ(FileDigest(out_.Path("after")), FileDigest(www_.Path("after.bin")));
}

}  // namespace feilong::testing
