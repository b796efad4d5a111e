#include "rpc/tls_config.h"

#include <gtest/gtest.h>

#include "rpc/tls_credentials.h"
#include "support/temp_dir.h"

namespace feilong::rpc {
namespace {

Status Read(const std::string& yaml, TlsConfig& out) {
  auto root = ConfigReader::FromString(yaml);
  if (!root.ok()) return root.status();
  return ReadTlsConfig(root->Child("tls"), out);
}

TEST(TlsConfigTest, OffByDefaultAndPlaintextCredentials) {
  TlsConfig config;
  ASSERT_TRUE(Read("", config).ok());
  EXPECT_FALSE(config.enabled);
  EXPECT_EQ(config.reload_interval, std::chrono::seconds(60));
  EXPECT_TRUE(ServerCredentials(config).ok());
  EXPECT_TRUE(ChannelCredentials(config).ok());
}

TEST(TlsConfigTest, EnabledNeedsReadableFilesAndNamesTheKey) {
  test::TempDir dir;
  ASSERT_TRUE(test::WriteFile(dir.Path("ca.pem"), "x").ok());
  ASSERT_TRUE(test::WriteFile(dir.Path("host.pem"), "x").ok());
  TlsConfig config;
  Status s = Read("tls: {enabled: true, ca_file: " + dir.Path("ca.pem") + "}", config);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tls.cert_file"), std::string::npos) << s.message();
  s = Read("tls: {enabled: true, ca_file: " + dir.Path("ca.pem") + ", cert_file: " +
               dir.Path("host.pem") + ", key_file: " + dir.Path("missing.key") + "}",
           config);
  EXPECT_NE(s.message().find("tls.key_file': cannot read"), std::string::npos) << s.message();
  EXPECT_EQ(Read("tls: {reload_interval: 500ms}", config).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Read("tls: {enabled: maybe}", config).code(), StatusCode::kInvalidArgument);
  // Credentials refuse files that went away since the config was read.
  config = TlsConfig{.enabled = true,
                     .ca_file = dir.Path("gone.pem"),
                     .cert_file = dir.Path("host.pem"),
                     .key_file = dir.Path("host.pem")};
  EXPECT_EQ(ServerCredentials(config).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace feilong::rpc
