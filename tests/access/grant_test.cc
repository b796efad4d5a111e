#include "access/grant.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace feilong::access {
namespace {

const std::string kTask(64, 'a');
const std::string kOtherTask(64, 'b');
constexpr int64_t kNow = 1'800'000'000;

class GrantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = GrantSigner::Generate();
    ASSERT_TRUE(signer.ok()) << signer.status().ToString();
    signer_ = std::move(signer).value();
  }
  std::string Token(const std::string& task = kTask, int64_t expires = kNow + 600,
                    const std::string& ip = "10.0.0.7") const {
    return signer_->Sign(GrantClaims{task, expires, ip});
  }
  std::unique_ptr<GrantSigner> signer_;
};

TEST_F(GrantTest, AGrantOpensOnlyItsTaskForItsAddressUntilItExpires) {
  const std::string& key = signer_->public_key();
  EXPECT_EQ(key.size(), 32u);
  EXPECT_TRUE(CheckGrant(Token(), key, kTask, "10.0.0.7", kNow).ok());
  // IPv4 as the kernel may report it on a dual-stack socket.
  EXPECT_TRUE(CheckGrant(Token(), key, kTask, "::ffff:10.0.0.7", kNow).ok());
  EXPECT_TRUE(CheckGrant(Token(kTask, kNow, "fe80::1"), key, kTask, "FE80:0:0::1", kNow).ok());

  EXPECT_TRUE(CheckGrant(Token(), key, kOtherTask, "10.0.0.7", kNow).code() ==
              StatusCode::kPermissionDenied);
  EXPECT_TRUE(CheckGrant(Token(), key, kTask, "10.0.0.8", kNow).code() ==
              StatusCode::kPermissionDenied);
  EXPECT_TRUE(CheckGrant(Token(), key, kTask, "not-an-ip", kNow).code() ==
              StatusCode::kPermissionDenied);
  // Expired: taken within the clock skew allowance, refused after it.
  EXPECT_TRUE(
      CheckGrant(Token(kTask, kNow - kClockSkewSeconds), key, kTask, "10.0.0.7", kNow).ok());
  EXPECT_TRUE(
      CheckGrant(Token(kTask, kNow - kClockSkewSeconds - 1), key, kTask, "10.0.0.7", kNow).code() ==
      StatusCode::kPermissionDenied);
}

TEST_F(GrantTest, NoGrantAnotherSignerOrAnUnknownKeyIsRefused) {
  const std::string& key = signer_->public_key();
  EXPECT_TRUE(CheckGrant("", key, kTask, "10.0.0.7", kNow).code() == StatusCode::kPermissionDenied);
  auto other = GrantSigner::Generate();
  ASSERT_TRUE(other.ok());
  std::string foreign = (*other)->Sign(GrantClaims{kTask, kNow + 600, "10.0.0.7"});
  EXPECT_TRUE(CheckGrant(foreign, key, kTask, "10.0.0.7", kNow).code() ==
              StatusCode::kPermissionDenied);
  // The key of a task whose scheduler is not known yet is empty: nobody.
  EXPECT_TRUE(CheckGrant(Token(), "", kTask, "10.0.0.7", kNow).code() ==
              StatusCode::kPermissionDenied);
}

TEST_F(GrantTest, EveryAlteredFieldBreaksTheSignature) {
  const std::string token = Token();
  const std::string& key = signer_->public_key();
  ASSERT_TRUE(VerifyGrant(token, key).ok());
  // Another address, a later expiry, another task: each a forgery.
  for (auto [from, to] : {std::pair<std::string, std::string>{"10.0.0.7", "10.0.0.9"},
                          {std::to_string(kNow + 600), std::to_string(kNow + 6000)},
                          {kTask, kOtherTask}}) {
    std::string forged = token;
    forged.replace(forged.find(from), from.size(), to);
    auto verified = VerifyGrant(forged, key);
    EXPECT_TRUE(verified.status().code() == StatusCode::kPermissionDenied) << forged;
  }
  std::string flipped = token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_TRUE(VerifyGrant(flipped, key).status().code() == StatusCode::kPermissionDenied);
}

TEST_F(GrantTest, MalformedTokensAreInvalidNotCrashes) {
  const std::string& key = signer_->public_key();
  for (std::string bad :
       {std::string("x"), std::string("|"), std::string("fg1|a|b|c|zz"),
        std::string("fg2|") + kTask + "|1|10.0.0.7|" + std::string(128, '0'),
        std::string("fg1|") + kTask + "|12x|10.0.0.7|" + std::string(128, '0'),
        std::string("fg1|") + kTask + "||10.0.0.7|" + std::string(128, '0'),
        std::string("fg1|") + kTask + "|1|10.0.0.7|extra|" + std::string(128, '0'),
        std::string("fg1|") + kTask + "|1|10.0.0.7|" + std::string(126, '0'),
        std::string(600, '|')}) {
    auto verified = VerifyGrant(bad, key);
    EXPECT_TRUE(verified.status().IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(VerifyGrant(Token(), "short").status().IsInvalidArgument());
}

TEST(GrantSignerFileTest, AKeyFileIsCreatedPrivateAndReadBackTheSame) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("grant_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "grants.pem").string();

  auto created = GrantSigner::LoadOrCreate(path);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto loaded = GrantSigner::LoadOrCreate(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->public_key(), (*created)->public_key());
  std::string token = (*created)->Sign(GrantClaims{kTask, kNow, "10.0.0.7"});
  EXPECT_TRUE(CheckGrant(token, (*loaded)->public_key(), kTask, "10.0.0.7", kNow).ok());

  std::string junk = (dir / "junk.pem").string();
  std::ofstream(junk) << "not a key\n";
  EXPECT_TRUE(GrantSigner::LoadOrCreate(junk).status().IsInvalidArgument());
  EXPECT_FALSE(GrantSigner::LoadOrCreate((dir / "missing" / "k.pem").string()).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace feilong::access
