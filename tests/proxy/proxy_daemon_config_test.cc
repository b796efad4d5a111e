// The `proxy:` section as part of fld's config: parsed by the proxy
// component, checked by FinalizeDaemonConfig, unknown keys rejected.
#include <gtest/gtest.h>

#include "daemon/daemon_config.h"

namespace feilong::daemon {
namespace {

TEST(ProxyDaemonConfigTest, ProxySectionReachesTheDaemonConfig) {
  auto config = ParseDaemonConfig(R"(
storage: {data_dir: /tmp/x}
download: {origin: {ca_file: /tmp/origin-ca.pem}}
proxy:
  enabled: true
  listen: 127.0.0.1:0
  rules: ['^http://files/']
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(FinalizeDaemonConfig(*config).ok());
  EXPECT_TRUE(config->proxy.enabled);
  ASSERT_EQ(config->proxy.rules.size(), 1u);
  EXPECT_EQ(config->origin_ca_file, "/tmp/origin-ca.pem");
}

TEST(ProxyDaemonConfigTest, OffByDefault) {
  auto config = ParseDaemonConfig("storage: {data_dir: /tmp/x}\n");
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(FinalizeDaemonConfig(*config).ok());
  EXPECT_FALSE(config->proxy.enabled);
  EXPECT_EQ(config->proxy.listen, "127.0.0.1:65002");
  EXPECT_TRUE(config->origin_ca_file.empty());
}

TEST(ProxyDaemonConfigTest, ErrorsNameTheKey) {
  auto unknown = ParseDaemonConfig("proxy: {enabeld: true}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("proxy.enabeld"), std::string::npos);
  auto config = ParseDaemonConfig("proxy: {enabled: true, rules: ['(']}\n");
  ASSERT_TRUE(config.ok());
  Status s = FinalizeDaemonConfig(*config);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("proxy.rules[0]"), std::string::npos) << s.ToString();
  auto clash = ParseDaemonConfig(
      "mirror: {enabled: true, listen: '127.0.0.1:7000', registries: {r: 'http://r'}}\n"
      "proxy: {enabled: true, listen: '127.0.0.1:7000'}\n");
  ASSERT_TRUE(clash.ok());
  Status c = FinalizeDaemonConfig(*clash);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.message().find("proxy.listen"), std::string::npos) << c.ToString();
}

}  // namespace
}  // namespace feilong::daemon
