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

TEST(TlsConfigTest, OnByDefaultAndPlaintextOnlyWhenAskedFor) {
  TlsConfig config;
  // A config without the block parses; what it lacks is said at start.
  ASSERT_TRUE(Read("", config).ok());
  EXPECT_TRUE(config.enabled);
  EXPECT_EQ(config.reload_interval, std::chrono::seconds(60));
  Status s = CheckTlsFiles(config);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("on by default"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("tls.enabled: false or pass --plaintext"), std::string::npos);
  EXPECT_EQ(ServerCredentials(config).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ChannelCredentials(config).status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(Read("tls: {enabled: false}", config).ok());
  EXPECT_FALSE(config.enabled);
  EXPECT_TRUE(CheckTlsFiles(config).ok());
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
  // Turned on in so many words, the files are checked as the config is read.
  TlsConfig fresh;
  EXPECT_NE(Read("tls: {enabled: true}", fresh).message().find("tls.ca_file"), std::string::npos);
  EXPECT_EQ(Read("tls: {enabled: maybe}", config).code(), StatusCode::kInvalidArgument);
  // Credentials refuse files that went away since the config was read.
  config = TlsConfig{.enabled = true,
                     .ca_file = dir.Path("gone.pem"),
                     .cert_file = dir.Path("host.pem"),
                     .key_file = dir.Path("host.pem")};
  EXPECT_EQ(ServerCredentials(config).status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsConfigTest, RolesComeFromFeilongRoleUrisInTheCertificate) {
  test::TempDir dir;
  std::string cmd = "bash " + std::string(FEILONG_SOURCE_DIR) + "/scripts/make-certs " +
                    dir.path() + " both@seed+scheduler:127.0.0.1 plain:127.0.0.1 > " +
                    dir.Path("log") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto pem = [&](const std::string& name) { return *test::ReadFile(dir.Path(name + ".pem")); };
  EXPECT_EQ(CertificateRoles(pem("both")), (std::vector<std::string>{"seed", "scheduler"}));
  EXPECT_TRUE(CertificateRoles(pem("plain")).empty());
  EXPECT_TRUE(CertificateRoles("not a certificate").empty());
  EXPECT_TRUE(CallerRoles(nullptr).empty());
}

}  // namespace
}  // namespace feilong::rpc
