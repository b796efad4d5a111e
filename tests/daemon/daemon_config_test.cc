#include "daemon/daemon_config.h"

#include <gtest/gtest.h>

namespace feilong::daemon {
namespace {

TEST(DaemonConfigTest, DefaultsWhenEmpty) {
  auto config = ParseDaemonConfig("");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->concurrent_pieces, 8u);
  EXPECT_EQ(config->max_transfers, 128u);
  EXPECT_EQ(config->data_dir, "/var/lib/feilong");
  EXPECT_TRUE(config->back_to_source);
  EXPECT_TRUE(config->schedulers.empty());
  EXPECT_EQ(config->availability_interval, std::chrono::milliseconds(250));
}

TEST(DaemonConfigTest, ReadsNestedKeys) {
  auto config = ParseDaemonConfig(R"(
host: {id: h1, seed: true, advertise_ip: 10.0.0.5}
scheduler: {addresses: ["10.0.0.1:8002", "10.0.0.2:8002"], connect_timeout: 500ms}
download: {concurrent_pieces: 16, max_transfers: 0, back_to_source: false}
upload: {capacity: 1Gbit, availability_interval: 100ms, queue_wait: 500ms, queue_length: 3}
storage: {data_dir: /data/fl, task_ttl: 2h}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->host_id, "h1");
  EXPECT_TRUE(config->seed);
  EXPECT_EQ(config->schedulers.size(), 2u);
  EXPECT_EQ(config->scheduler_connect_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(config->concurrent_pieces, 16u);
  EXPECT_EQ(config->max_transfers, 0u);
  EXPECT_FALSE(config->back_to_source);
  EXPECT_EQ(config->upload_capacity_bps, 125'000'000u);
  EXPECT_EQ(config->availability_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(config->upload_queue_wait, std::chrono::milliseconds(500));
  EXPECT_EQ(config->upload_queue_length, 3u);
  EXPECT_EQ(config->task_ttl, std::chrono::hours(2));
}

TEST(DaemonConfigTest, SocketAndOriginPolicyKeys) {
  auto peer = ParseDaemonConfig("server: {socket_mode: \"0600\", socket_group: fl}\n");
  ASSERT_TRUE(peer.ok()) << peer.status().ToString();
  EXPECT_EQ(peer->socket_mode, 0600u);
  EXPECT_EQ(peer->socket_group, "fl");
  ASSERT_TRUE(FinalizeDaemonConfig(*peer).ok());
  EXPECT_TRUE(peer->origin_policy.deny_link_local);
  EXPECT_FALSE(peer->origin_policy.deny_loopback) << "a peer fetches what its own users ask";

  auto seed = ParseDaemonConfig("host: {seed: true}\n");
  ASSERT_TRUE(seed.ok() && FinalizeDaemonConfig(*seed).ok());
  EXPECT_TRUE(seed->origin_policy.deny_loopback) << "a seed fetches what other hosts name";

  auto opened = ParseDaemonConfig(
      "host: {seed: true}\n"
      "download: {origin: {policy: {deny_loopback: false, allow: [10.0.0.0/8]}}}\n");
  ASSERT_TRUE(opened.ok() && FinalizeDaemonConfig(*opened).ok()) << opened.status().ToString();
  EXPECT_FALSE(opened->origin_policy.deny_loopback);
  EXPECT_EQ(opened->origin_policy.allow, std::vector<std::string>{"10.0.0.0/8"});

  for (const char* bad : {"server: {socket_mode: \"0999\"}\n", "server: {socket_mode: \"7777\"}\n",
                          "download: {origin: {policy: {deny: [10.0.0.0/33]}}}\n"}) {
    auto config = ParseDaemonConfig(bad);
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(DaemonConfigTest, TcpCongestionOfUploads) {
  auto defaults = ParseDaemonConfig("");
  ASSERT_TRUE(defaults.ok() && FinalizeDaemonConfig(*defaults).ok());
  EXPECT_EQ(defaults->upload_tcp_congestion, "cubic");

  auto host = ParseDaemonConfig("upload: {tcp_congestion: \"\"}\n");
  ASSERT_TRUE(host.ok() && FinalizeDaemonConfig(*host).ok());
  EXPECT_EQ(host->upload_tcp_congestion, "");

  for (const char* bad :
       {"upload: {tcp_congestion: \"Cubic\"}\n", "upload: {tcp_congestion: \"cubic; rm\"}\n",
        "upload: {tcp_congestion: \"a_name_far_too_long\"}\n"}) {
    auto config = ParseDaemonConfig(bad);
    ASSERT_TRUE(config.ok()) << bad;
    Status finalized = FinalizeDaemonConfig(*config);
    EXPECT_EQ(finalized.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(finalized.message().find("upload.tcp_congestion"), std::string::npos)
        << finalized.ToString();
  }
}

// The key was replaced when transfers moved onto the event loop: an old
// config is refused with a message that names what to use instead.
TEST(DaemonConfigTest, RemovedTransferThreadsKeyNamesItsReplacement) {
  auto config = ParseDaemonConfig("download: {transfer_threads: 16}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status().ToString();
  EXPECT_NE(config.status().message().find("download.transfer_threads"), std::string::npos);
  EXPECT_NE(config.status().message().find("download.blocking_threads"), std::string::npos)
      << config.status().ToString();
}

TEST(DaemonConfigTest, UnknownKeyIsNamed) {
  auto config = ParseDaemonConfig("download: {concurent_pieces: 3}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("download.concurent_pieces"), std::string::npos)
      << config.status().ToString();
}

TEST(DaemonConfigTest, BadValueIsNamed) {
  auto config = ParseDaemonConfig("download: {concurrent_pieces: many}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("download.concurrent_pieces"), std::string::npos);
}

TEST(DaemonConfigTest, FinalizeFillsDerivedDefaultsAndChecksRanges) {
  DaemonConfig config;
  config.data_dir = "/tmp/x";
  config.advertise_ip = "10.1.1.1";
  config.hostname = "node7";
  ASSERT_TRUE(FinalizeDaemonConfig(config).ok());
  EXPECT_EQ(config.socket_path, "/tmp/x/fld.sock");
  EXPECT_EQ(config.host_id, "10.1.1.1-node7");
  EXPECT_EQ(config.max_concurrent_uploads, 200u);
  EXPECT_EQ(config.upload_slots, 4u);
  EXPECT_EQ(config.upload_queue_length, 4u);  // as many as the slots
  EXPECT_EQ(config.upload_queue_wait, std::chrono::seconds(2));

  DaemonConfig seed;
  seed.seed = true;
  seed.hostname = "s";
  ASSERT_TRUE(FinalizeDaemonConfig(seed).ok());
  EXPECT_EQ(seed.max_concurrent_uploads, 2000u);
  EXPECT_EQ(seed.upload_slots, 32u);
  EXPECT_EQ(seed.upload_queue_length, 32u);

  DaemonConfig bad;
  bad.hostname = "b";
  bad.concurrent_pieces = 0;
  Status s = FinalizeDaemonConfig(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("download.concurrent_pieces"), std::string::npos);

  DaemonConfig no_parents;
  no_parents.hostname = "n";
  no_parents.parent_wanted = 0;
  s = FinalizeDaemonConfig(no_parents);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("download.parent.wanted"), std::string::npos);

  DaemonConfig slow;
  slow.hostname = "s";
  slow.availability_interval = std::chrono::seconds(11);
  s = FinalizeDaemonConfig(slow);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("upload.availability_interval"), std::string::npos);

  DaemonConfig patient;
  patient.hostname = "p";
  patient.upload_queue_wait = std::chrono::seconds(11);
  s = FinalizeDaemonConfig(patient);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("upload.queue_wait"), std::string::npos);

  DaemonConfig marks;
  marks.hostname = "m";
  marks.disk_low_watermark = 0.9;
  EXPECT_FALSE(FinalizeDaemonConfig(marks).ok());
}

}  // namespace
}  // namespace feilong::daemon
