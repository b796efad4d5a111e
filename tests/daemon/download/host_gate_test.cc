#include "daemon/download/host_gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace feilong::daemon {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

HostGateConfig Config(uint32_t cap, uint32_t failures_to_open) {
  HostGateConfig c;
  c.max_in_flight_per_host = cap;
  c.breaker.consecutive_failures = failures_to_open;
  c.breaker.open_duration = 5s;
  c.kind = "origin";
  return c;
}

TEST(HostGateTest, CapsRequestsInFlightPerHost) {
  FakeClock clock;
  HostGate gate(Config(2, 5), clock);
  auto a = gate.TryEnter("o:80");
  auto b = gate.TryEnter("o:80");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  auto c = gate.TryEnter("o:80");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(c.status().message(), HasSubstr("origin o:80"));
  EXPECT_TRUE(gate.TryEnter("other:80").ok());  // per host
  EXPECT_EQ(gate.InFlight("o:80"), 2u);
  a->reset();  // a finished pass frees its slot
  EXPECT_EQ(gate.InFlight("o:80"), 1u);
  EXPECT_TRUE(gate.TryEnter("o:80").ok());
}

TEST(HostGateTest, ZeroCapMeansUnlimited) {
  FakeClock clock;
  HostGate gate(Config(0, 5), clock);
  std::vector<std::unique_ptr<HostGate::Pass>> passes;
  for (int i = 0; i < 100; ++i) {
    auto pass = gate.TryEnter("p:1");
    ASSERT_TRUE(pass.ok());
    passes.push_back(std::move(*pass));
  }
}

TEST(HostGateTest, HostFailuresOpenTheCircuitAndProbeClosesIt) {
  FakeClock clock;
  HostGate gate(Config(0, 2), clock);
  for (int i = 0; i < 2; ++i) {
    auto pass = gate.TryEnter("o:80");
    ASSERT_TRUE(pass.ok());
    (*pass)->Finish(Status::Unavailable("reset"));
  }
  EXPECT_TRUE(gate.IsOpen("o:80"));
  auto refused = gate.TryEnter("o:80");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("circuit breaker is open"));
  EXPECT_FALSE(gate.IsOpen("elsewhere:80"));

  clock.Advance(5s);
  auto probe = gate.TryEnter("o:80");
  ASSERT_TRUE(probe.ok());
  (*probe)->Finish(Status::Ok());
  EXPECT_FALSE(gate.IsOpen("o:80"));
  EXPECT_TRUE(gate.TryEnter("o:80").ok());
}

TEST(HostGateTest, OnlyHostFaultsCount) {
  FakeClock clock;
  HostGate gate(Config(0, 1), clock);
  for (const Status& s : {Status::NotFound("404"), Status::PermissionDenied("403"),
                          Status::Cancelled("stop"), Status::ResourceExhausted("disk full")}) {
    auto pass = gate.TryEnter("o:80");
    ASSERT_TRUE(pass.ok());
    (*pass)->Finish(s);
  }
  EXPECT_FALSE(gate.IsOpen("o:80"));
  auto pass = gate.TryEnter("o:80");
  ASSERT_TRUE(pass.ok());
  (*pass)->Finish(Status::Corruption("bad digest"));
  EXPECT_TRUE(gate.IsOpen("o:80"));
}

TEST(HostGateTest, FinishTwiceRecordsOnce) {
  FakeClock clock;
  HostGate gate(Config(0, 2), clock);
  auto pass = gate.TryEnter("o:80");
  ASSERT_TRUE(pass.ok());
  (*pass)->Finish(Status::Unavailable("x"));
  (*pass)->Finish(Status::Unavailable("x"));
  EXPECT_FALSE(gate.IsOpen("o:80"));
}

TEST(OriginHostKeyTest, FillsDefaultPortsAndDropsCredentials) {
  EXPECT_EQ(OriginHostKey("http://Example.com/a?b"), "Example.com:80");
  EXPECT_EQ(OriginHostKey("https://u:p@example.com/x"), "example.com:443");
  EXPECT_EQ(OriginHostKey("http://127.0.0.1:8080/f"), "127.0.0.1:8080");
  EXPECT_EQ(OriginHostKey("http://[::1]:81/f"), "[::1]:81");
  EXPECT_EQ(OriginHostKey("not a url"), "");
}

}  // namespace
}  // namespace feilong::daemon
