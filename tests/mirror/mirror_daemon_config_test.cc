// The `mirror:` section as part of fld's config: parsed by the mirror
// component, checked by FinalizeDaemonConfig, unknown keys rejected.
#include <gtest/gtest.h>

#include "daemon/daemon_config.h"

namespace feilong::daemon {
namespace {

TEST(MirrorDaemonConfigTest, MirrorSectionReachesTheDaemonConfig) {
  auto config = ParseDaemonConfig(R"(
storage: {data_dir: /tmp/x}
mirror:
  enabled: true
  listen: 127.0.0.1:0
  registries: {docker.io: "https://registry-1.docker.io"}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(FinalizeDaemonConfig(*config).ok());
  EXPECT_TRUE(config->mirror.enabled);
  EXPECT_EQ(config->mirror.default_registry, "docker.io");
  ASSERT_EQ(config->mirror.registries.size(), 1u);
  EXPECT_TRUE(config->mirror.registries[0].tls);
}

TEST(MirrorDaemonConfigTest, OffByDefault) {
  auto config = ParseDaemonConfig("storage: {data_dir: /tmp/x}\n");
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(FinalizeDaemonConfig(*config).ok());
  EXPECT_FALSE(config->mirror.enabled);
}

TEST(MirrorDaemonConfigTest, ErrorsNameTheKey) {
  auto unknown = ParseDaemonConfig("mirror: {enabeld: true}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("mirror.enabeld"), std::string::npos);
  auto config = ParseDaemonConfig("mirror: {enabled: true}\n");
  ASSERT_TRUE(config.ok());
  Status s = FinalizeDaemonConfig(*config);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mirror.registries"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace feilong::daemon
