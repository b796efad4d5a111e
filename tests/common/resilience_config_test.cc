#include "common/resilience_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace feilong {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

ConfigReader Parse(std::string_view yaml) {
  auto reader = ConfigReader::FromString(yaml);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return *reader;
}

TEST(ResilienceConfigTest, AbsentKeysKeepDefaults) {
  ConfigReader root = Parse("other: 1\n");
  RetryPolicy retry;
  retry.max_attempts = 7;
  ASSERT_TRUE(ReadRetryPolicy(root.Child("retry"), retry).ok());
  EXPECT_EQ(retry.max_attempts, 7u);
  CircuitBreakerConfig breaker;
  breaker.consecutive_failures = 9;
  ASSERT_TRUE(ReadCircuitBreakerConfig(root.Child("circuit_breaker"), breaker).ok());
  EXPECT_EQ(breaker.consecutive_failures, 9u);
}

TEST(ResilienceConfigTest, ReadsEveryField) {
  ConfigReader root = Parse(R"(
retry:
  max_attempts: 4
  initial_backoff: 250ms
  max_backoff: 3s
  multiplier: 1.5
  jitter: 0.1
circuit_breaker:
  consecutive_failures: 3
  open_duration: 2s
  half_open_probes: 2
)");
  RetryPolicy retry;
  ASSERT_TRUE(ReadRetryPolicy(root.Child("retry"), retry).ok());
  EXPECT_EQ(retry.max_attempts, 4u);
  EXPECT_EQ(retry.initial_backoff, 250ms);
  EXPECT_EQ(retry.max_backoff, 3s);
  EXPECT_DOUBLE_EQ(retry.multiplier, 1.5);
  EXPECT_DOUBLE_EQ(retry.jitter, 0.1);
  CircuitBreakerConfig breaker;
  ASSERT_TRUE(ReadCircuitBreakerConfig(root.Child("circuit_breaker"), breaker).ok());
  EXPECT_EQ(breaker.consecutive_failures, 3u);
  EXPECT_EQ(breaker.open_duration, 2s);
  EXPECT_EQ(breaker.half_open_probes, 2u);
  EXPECT_TRUE(root.CheckNoUnknownKeys().ok());
}

TEST(ResilienceConfigTest, BadValuesNameTheKey) {
  ConfigReader root = Parse("retry:\n  jitter: 1.5\nbreaker:\n  consecutive_failures: 0\n");
  RetryPolicy retry;
  Status s = ReadRetryPolicy(root.Child("retry"), retry);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("'retry'"));
  EXPECT_THAT(s.message(), HasSubstr("jitter"));
  EXPECT_DOUBLE_EQ(retry.jitter, RetryPolicy{}.jitter);  // unchanged on error
  CircuitBreakerConfig breaker;
  s = ReadCircuitBreakerConfig(root.Child("breaker"), breaker);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("breaker.consecutive_failures"));
}

TEST(ResilienceConfigTest, DurationNeedsUnit) {
  ConfigReader root = Parse("circuit_breaker:\n  open_duration: 5\n");
  CircuitBreakerConfig breaker;
  Status s = ReadCircuitBreakerConfig(root.Child("circuit_breaker"), breaker);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("circuit_breaker.open_duration"));
}

TEST(ResilienceConfigTest, DurationLongerThanTheClockHoldsIsAnError) {
  // Found by daemon_config_fuzz: converting it to nanoseconds overflowed.
  ConfigReader root = Parse(
      "circuit_breaker:\n  open_duration: 1546584295081916410ms\n"
      "retry:\n  max_backoff: 9999999999999999s\n");
  CircuitBreakerConfig breaker;
  Status s = ReadCircuitBreakerConfig(root.Child("circuit_breaker"), breaker);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("circuit_breaker.open_duration"));
  EXPECT_EQ(breaker.open_duration, CircuitBreakerConfig{}.open_duration);
  RetryPolicy retry;
  s = ReadRetryPolicy(root.Child("retry"), retry);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("max_backoff"));
}

}  // namespace
}  // namespace feilong
