#include "rpc/tls_stage.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "support/temp_dir.h"

namespace feilong::rpc {
namespace {

// scripts/make-certs DIR NAME:127.0.0.1 with DAYS=days.
void MakeCerts(const std::string& dir, const std::string& name, int days = 365) {
  std::string cmd = "DAYS=" + std::to_string(days) + " bash " + std::string(FEILONG_SOURCE_DIR) +
                    "/scripts/make-certs " + dir + " " + name + ":127.0.0.1 >> " + dir +
                    "/make.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::string Read(const std::string& path) {
  auto text = test::ReadFile(path);
  return text.ok() ? *text : "unreadable: " + text.status().ToString();
}

class TlsStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCerts(first_.path(), "host");
    MakeCerts(first_.path(), "other");
    MakeCerts(first_.path(), "expired", -1);
    MakeCerts(second_.path(), "host");
    config_ = TlsConfig{.enabled = true,
                        .ca_file = live_.Path("ca.pem"),
                        .cert_file = live_.Path("host.pem"),
                        .key_file = live_.Path("host.key"),
                        .reload_interval = std::chrono::hours(1)};
    Install(first_, "host");
  }

  // Copies `dir`'s CA and NAME's certificate and key to the configured paths.
  void Install(const test::TempDir& dir, const std::string& name) {
    Put(config_.ca_file, Read(dir.Path("ca.pem")));
    Put(config_.cert_file, Read(dir.Path(name + ".pem")));
    Put(config_.key_file, Read(dir.Path(name + ".key")));
  }
  static void Put(const std::string& path, const std::string& text) {
    ASSERT_TRUE(test::WriteFile(path, text).ok()) << path;
  }
  // What the staged files hold now.
  static std::string Staged(const TlsStage& stage) {
    const TlsConfig& s = stage.staged();
    return Read(s.ca_file) + Read(s.cert_file) + Read(s.key_file);
  }
  static std::string Set(const test::TempDir& dir, const std::string& name) {
    return Read(dir.Path("ca.pem")) + Read(dir.Path(name + ".pem")) + Read(dir.Path(name + ".key"));
  }

  test::TempDir first_;
  test::TempDir second_;
  test::TempDir live_;
  TlsConfig config_;
};

TEST_F(TlsStageTest, StagesTheConfiguredSetInMemory) {
  auto stage = TlsStage::Create(config_);
  ASSERT_TRUE(stage.ok()) << stage.status().ToString();
  const TlsConfig& staged = (*stage)->staged();
  EXPECT_TRUE(staged.enabled);
  EXPECT_TRUE(staged.cert_file.starts_with("/proc/self/fd/")) << staged.cert_file;
  EXPECT_EQ(staged.reload_interval, std::chrono::seconds(1));
  EXPECT_EQ(Staged(**stage), Set(first_, "host"));
  EXPECT_TRUE(CheckTlsFiles(staged).ok());
  EXPECT_EQ((*stage)->generation(), 1u);
  auto unchanged = (*stage)->Refresh();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);
  EXPECT_EQ((*stage)->generation(), 1u);
}

TEST_F(TlsStageTest, CreateRefusesASetThatIsNotWholeAndNamesTheFile) {
  struct Case {
    std::string ca, cert, key, error;
  };
  const std::vector<Case> cases = {
      {"ca.pem", "other.pem", "host.key", "does not match the certificate in tls.cert_file"},
      {"ca.pem", "expired.pem", "expired.key", "expired"},
      {"ca.pem", "host.key", "host.key", "tls.cert_file " + config_.cert_file + ": no PEM"},
      {"host.key", "host.pem", "host.key", "tls.ca_file " + config_.ca_file + ": no PEM"},
      {"ca.pem", "host.pem", "host.pem", "tls.key_file " + config_.key_file + ": no PEM"},
  };
  for (const Case& c : cases) {
    Put(config_.ca_file, Read(first_.Path(c.ca)));
    Put(config_.cert_file, Read(first_.Path(c.cert)));
    Put(config_.key_file, Read(first_.Path(c.key)));
    auto stage = TlsStage::Create(config_);
    ASSERT_FALSE(stage.ok()) << c.cert;
    EXPECT_EQ(stage.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(stage.status().message().find(c.error), std::string::npos)
        << stage.status().message();
  }
  // Another CA's certificate.
  Put(config_.ca_file, Read(first_.Path("ca.pem")));
  Put(config_.cert_file, Read(second_.Path("host.pem")));
  Put(config_.key_file, Read(second_.Path("host.key")));
  auto foreign = TlsStage::Create(config_);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("is refused by tls.ca_file"), std::string::npos)
      << foreign.status().message();
  config_.key_file = live_.Path("missing.key");
  auto missing = TlsStage::Create(config_);
  EXPECT_NE(missing.status().message().find("'tls.key_file': cannot read " + config_.key_file),
            std::string::npos)
      << missing.status().message();
}

TEST_F(TlsStageTest, RefreshTakesOnlyAWholeSetAndKeepsTheOneInUseOtherwise) {
  auto created = TlsStage::Create(config_);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  TlsStage& stage = **created;
  // A reader that opened the staged certificate before a swap keeps reading
  // what it opened.
  FILE* opened_before = std::fopen(stage.staged().cert_file.c_str(), "r");
  ASSERT_NE(opened_before, nullptr);

  // Halfway through a rotation: new certificate and key, old CA bundle.
  Put(config_.cert_file, Read(second_.Path("host.pem")));
  Put(config_.key_file, Read(second_.Path("host.key")));
  auto refused = stage.Refresh();
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Staged(stage), Set(first_, "host"));
  // A certificate without its key.
  Install(first_, "host");
  Put(config_.cert_file, Read(first_.Path("other.pem")));
  EXPECT_FALSE(stage.Refresh().ok());
  EXPECT_EQ(Staged(stage), Set(first_, "host"));
  EXPECT_EQ(stage.generation(), 1u);

  // The whole new set.
  Install(second_, "host");
  auto taken = stage.Refresh();
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(*taken);
  EXPECT_EQ(stage.generation(), 2u);
  EXPECT_EQ(Staged(stage), Set(second_, "host"));

  std::string before(8192, '\0');
  before.resize(std::fread(before.data(), 1, before.size(), opened_before));
  std::fclose(opened_before);
  EXPECT_EQ(before, Read(first_.Path("host.pem")));
}

TEST_F(TlsStageTest, TheConfiguredFilesAreCheckedEveryReloadInterval) {
  config_.reload_interval = std::chrono::seconds(1);
  auto created = TlsStage::Create(config_);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Install(second_, "host");
  for (int i = 0; i < 50 && (*created)->generation() == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ((*created)->generation(), 2u);
  EXPECT_EQ(Staged(**created), Set(second_, "host"));
}

}  // namespace
}  // namespace feilong::rpc
