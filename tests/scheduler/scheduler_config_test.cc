#include "scheduler/scheduler_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace feilong::scheduler {
namespace {

using std::chrono::milliseconds;

TEST(SchedulerConfigTest, DefaultsAreDocumentedValues) {
  SchedulerConfig config;
  EXPECT_EQ(config.listen, "0.0.0.0:8002");
  EXPECT_EQ(config.metrics_listen, "127.0.0.1:8003");
  EXPECT_EQ(config.candidate_parent_limit, 3u);
  EXPECT_EQ(config.max_back_to_source_peers_per_task, 3u);
  EXPECT_EQ(config.schedule_wait, milliseconds(2000));
  EXPECT_EQ(config.max_schedule_wait, milliseconds(30000));
  EXPECT_EQ(config.seed_trigger_timeout, milliseconds(5000));
  EXPECT_EQ(config.host_ttl, milliseconds(120000));
  EXPECT_EQ(config.finished_peer_ttl, milliseconds(3600000));
  EXPECT_EQ(config.tick_interval, milliseconds(100));
  EXPECT_TRUE(config.Validate().ok());
  Result<SchedulerConfig> empty = ParseSchedulerConfig("");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->listen, config.listen);
}

TEST(SchedulerConfigTest, ParsesEveryKey) {
  Result<SchedulerConfig> config = ParseSchedulerConfig(R"(
listen: "127.0.0.1:0"
metrics_listen: ""
log_level: debug
candidate_parent_limit: 5
max_back_to_source_peers_per_task: 10
schedule_wait: 500ms
max_schedule_wait: 1m
seed_trigger_timeout: 2s
host_ttl: 10m
finished_peer_ttl: 30m
tick_interval: 50ms
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->metrics_listen, "");
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->candidate_parent_limit, 5u);
  EXPECT_EQ(config->max_back_to_source_peers_per_task, 10u);
  EXPECT_EQ(config->schedule_wait, milliseconds(500));
  EXPECT_EQ(config->max_schedule_wait, milliseconds(60000));
  EXPECT_EQ(config->seed_trigger_timeout, milliseconds(2000));
  EXPECT_EQ(config->host_ttl, milliseconds(600000));
  EXPECT_EQ(config->finished_peer_ttl, milliseconds(1800000));
  EXPECT_EQ(config->tick_interval, milliseconds(50));
}

TEST(SchedulerConfigTest, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* key;
  };
  const std::vector<Case> cases = {
      {"listen: nope", "listen"},
      {"listen: \"host:99999\"", "listen"},
      {"metrics_listen: \"x\"", "metrics_listen"},
      {"log_level: loud", "log_level"},
      {"candidate_parent_limit: 0", "candidate_parent_limit"},
      {"candidate_parent_limit: many", "candidate_parent_limit"},
      {"max_back_to_source_peers_per_task: 0", "max_back_to_source_peers_per_task"},
      {"schedule_wait: 2", "schedule_wait"},
      {"schedule_wait: 0ms", "schedule_wait"},
      {"schedule_wait: 5s\nmax_schedule_wait: 1s", "max_schedule_wait"},
      {"seed_trigger_timeout: 0s", "seed_trigger_timeout"},
      {"host_ttl: 0s", "host_ttl"},
      {"tick_interval: 0ms", "tick_interval"},
      {"finished_peer_ttl: -1s", "finished_peer_ttl"},
      {"scheduel_wait: 1s", "scheduel_wait"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.yaml);
    Result<SchedulerConfig> config = ParseSchedulerConfig(tc.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_TRUE(config.status().IsInvalidArgument());
    EXPECT_NE(config.status().message().find("'" + std::string(tc.key) + "'"), std::string::npos)
        << config.status().message();
  }
}

TEST(SchedulerConfigTest, LoadsFileAndReportsMissingFile) {
  std::string path = ::testing::TempDir() + "/flsched_config_test.yaml";
  {
    std::ofstream out(path);
    out << "listen: \"127.0.0.1:9000\"\n";
  }
  Result<SchedulerConfig> config = LoadSchedulerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen, "127.0.0.1:9000");
  EXPECT_TRUE(LoadSchedulerConfig(path + ".missing").status().IsNotFound());
}

}  // namespace
}  // namespace feilong::scheduler
