#include "daemon/trigger_policy.h"

#include <gtest/gtest.h>

namespace feilong::daemon {
namespace {

TEST(TriggerPolicyTest, PeerIpReadsGrpcPeerStrings) {
  EXPECT_EQ(PeerIp("ipv4:10.0.0.1:4000"), "10.0.0.1");
  EXPECT_EQ(PeerIp("ipv6:[::1]:4000"), "::1");
  EXPECT_EQ(PeerIp("ipv6:%5B::1%5D:4000"), "::1");
  EXPECT_EQ(PeerIp("ipv6:[::ffff:10.0.0.1]:4000"), "10.0.0.1");
  EXPECT_EQ(PeerIp("ipv6:[0:0::1]:1"), "::1") << "one spelling per address";
  EXPECT_EQ(PeerIp("unix:/run/fld.sock"), std::nullopt);
  EXPECT_EQ(PeerIp("ipv4:not-an-ip:1"), std::nullopt);
  EXPECT_EQ(PeerIp("ipv6:::1:4000"), std::nullopt);
}

TEST(TriggerPolicyTest, OnlyASeedAnswersAndOnlyToItsSchedulers) {
  TriggerPolicy peer{.seed = false, .scheduler_ips = {"10.0.0.9"}};
  EXPECT_EQ(peer.Check("ipv4:10.0.0.9:5000", {}).code(), StatusCode::kPermissionDenied)
      << "a peer that is not a seed never fetches for others";
  TriggerPolicy seed{.seed = true, .scheduler_ips = {"10.0.0.9", "fd00::9"}};
  EXPECT_TRUE(seed.Check("ipv4:10.0.0.9:5000", {}).ok());
  EXPECT_TRUE(seed.Check("ipv6:[fd00:0::9]:5000", {}).ok());
  Status refused = seed.Check("ipv4:10.0.0.66:5000", {});
  EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("10.0.0.66"), std::string::npos) << refused.message();
  EXPECT_EQ(seed.Check("unix:/x", {}).code(), StatusCode::kPermissionDenied);
}

TEST(TriggerPolicyTest, WithTlsTheSchedulerRoleDecidesNotTheAddress) {
  TriggerPolicy seed{.seed = true, .by_certificate = true, .scheduler_ips = {"10.0.0.9"}};
  EXPECT_TRUE(seed.Check("ipv4:172.16.0.1:5000", {"seed", "scheduler"}).ok())
      << "behind NAT or a Service, the certificate speaks";
  EXPECT_EQ(seed.Check("ipv4:10.0.0.9:5000", {}).code(), StatusCode::kPermissionDenied)
      << "the scheduler's address alone is not enough";
  EXPECT_EQ(seed.Check("ipv4:10.0.0.9:5000", {"seed"}).code(), StatusCode::kPermissionDenied);
  TriggerPolicy peer{.seed = false, .by_certificate = true};
  EXPECT_EQ(peer.Check("ipv4:10.0.0.9:5000", {"scheduler"}).code(), StatusCode::kPermissionDenied);
}

TEST(TriggerPolicyTest, SchedulerNamesResolveToAddresses) {
  auto ips = ResolveSchedulerIps({"127.0.0.1:8002", "[::ffff:10.1.2.3]:1", "localhost:8002"});
  ASSERT_TRUE(ips.ok()) << ips.status().ToString();
  EXPECT_EQ((*ips)[0], "127.0.0.1");
  EXPECT_EQ((*ips)[1], "10.1.2.3");
  EXPECT_GE(ips->size(), 3u) << "localhost resolves";
  EXPECT_EQ(ResolveSchedulerIps({"no-port"}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace feilong::daemon
