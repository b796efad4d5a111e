#include "common/circuit_breaker.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace feilong {
namespace {

using namespace std::chrono_literals;
using State = CircuitBreaker::State;

CircuitBreakerConfig Config(uint32_t failures, Clock::Duration open, uint32_t probes) {
  CircuitBreakerConfig c;
  c.consecutive_failures = failures;
  c.open_duration = open;
  c.half_open_probes = probes;
  return c;
}

TEST(CircuitBreakerTest, Defaults) {
  CircuitBreakerConfig c;
  EXPECT_EQ(c.consecutive_failures, 5u);
  EXPECT_EQ(c.open_duration, 10s);
  EXPECT_EQ(c.half_open_probes, 1u);
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailures) {
  FakeClock clock;
  CircuitBreaker b(Config(3, 10s, 1), clock);
  EXPECT_EQ(b.state(), State::kClosed);
  b.RecordFailure();
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.Allow());
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_FALSE(b.Allow());
}

TEST(CircuitBreakerTest, SuccessResetsFailureCount) {
  FakeClock clock;
  CircuitBreaker b(Config(3, 10s, 1), clock);
  b.RecordFailure();
  b.RecordFailure();
  b.RecordSuccess();
  b.RecordFailure();
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kClosed);
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreakerTest, HalfOpenAfterOpenDurationLetsProbesThrough) {
  FakeClock clock;
  CircuitBreaker b(Config(1, 10s, 2), clock);
  b.RecordFailure();
  clock.Advance(9999ms);
  EXPECT_FALSE(b.Allow());
  EXPECT_EQ(b.state(), State::kOpen);
  clock.Advance(1ms);
  EXPECT_EQ(b.state(), State::kHalfOpen);  // visible before Allow()
  EXPECT_TRUE(b.Allow());
  EXPECT_TRUE(b.Allow());
  EXPECT_FALSE(b.Allow());  // only 2 probes
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, ProbeSuccessCloses) {
  FakeClock clock;
  CircuitBreaker b(Config(2, 1s, 1), clock);
  b.RecordFailure();
  b.RecordFailure();
  clock.Advance(1s);
  ASSERT_TRUE(b.Allow());
  b.RecordSuccess();
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.Allow());
  EXPECT_TRUE(b.Allow());
  // The failure count starts again from zero.
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kClosed);
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST(CircuitBreakerTest, ProbeFailureReopensForAnotherOpenDuration) {
  FakeClock clock;
  CircuitBreaker b(Config(1, 5s, 1), clock);
  b.RecordFailure();
  clock.Advance(5s);
  ASSERT_TRUE(b.Allow());
  clock.Advance(2s);
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_FALSE(b.Allow());
  clock.Advance(4999ms);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1ms);
  EXPECT_TRUE(b.Allow());
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, LateResultsWhileOpenAreIgnored) {
  FakeClock clock;
  CircuitBreaker b(Config(1, 5s, 1), clock);
  b.RecordFailure();
  clock.Advance(3s);
  b.RecordSuccess();  // a call that started before the circuit opened
  EXPECT_EQ(b.state(), State::kOpen);
  b.RecordFailure();  // does not extend the open period
  clock.Advance(2s);
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, UnrecordedProbeDoesNotWedgeHalfOpen) {
  FakeClock clock;
  CircuitBreaker b(Config(1, 5s, 1), clock);
  b.RecordFailure();
  clock.Advance(5s);
  ASSERT_TRUE(b.Allow());  // its outcome is never recorded
  EXPECT_FALSE(b.Allow());
  clock.Advance(4999ms);
  EXPECT_FALSE(b.Allow());
  clock.Advance(1ms);
  EXPECT_TRUE(b.Allow());  // a new round of probes
  EXPECT_FALSE(b.Allow());
}

TEST(CircuitBreakerTest, ZeroConfigValuesAreTakenAsOne) {
  FakeClock clock;
  CircuitBreaker b(Config(0, 1s, 0), clock);
  EXPECT_TRUE(b.Allow());
  b.RecordFailure();
  EXPECT_EQ(b.state(), State::kOpen);
  clock.Advance(1s);
  EXPECT_TRUE(b.Allow());
  EXPECT_FALSE(b.Allow());
}

TEST(CircuitBreakerTest, StateNames) {
  EXPECT_EQ(CircuitStateName(State::kClosed), "closed");
  EXPECT_EQ(CircuitStateName(State::kOpen), "open");
  EXPECT_EQ(CircuitStateName(State::kHalfOpen), "half_open");
}

TEST(CircuitBreakerSetTest, OneBreakerPerKeyCreatedLazily) {
  FakeClock clock;
  CircuitBreakerSet set(Config(1, 10s, 1), clock);
  EXPECT_EQ(set.size(), 0u);
  CircuitBreaker& a = set.For("a.example:80");
  EXPECT_EQ(&a, &set.For("a.example:80"));
  CircuitBreaker& b = set.For("b.example:80");
  EXPECT_NE(&a, &b);
  EXPECT_EQ(set.size(), 2u);
  a.RecordFailure();
  EXPECT_EQ(set.For("a.example:80").state(), State::kOpen);
  EXPECT_EQ(b.state(), State::kClosed);
}

TEST(CircuitBreakerSetTest, ConcurrentForIsSafe) {
  FakeClock clock;
  CircuitBreakerSet set(Config(1000000, 10s, 1), clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&set] {
      for (int i = 0; i < 1000; ++i) {
        CircuitBreaker& b = set.For("host" + std::to_string(i % 10));
        if (b.Allow()) {
          b.RecordFailure();
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(set.size(), 10u);
}

}  // namespace
}  // namespace feilong
