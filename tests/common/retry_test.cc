#include "common/retry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace feilong {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

Clock::Duration Elapsed(const FakeClock& clock) { return clock.Now().time_since_epoch(); }

TEST(RetryPolicyTest, DefaultsAreValid) {
  RetryPolicy p;
  EXPECT_EQ(p.max_attempts, 3u);
  EXPECT_EQ(p.initial_backoff, 100ms);
  EXPECT_EQ(p.max_backoff, 5s);
  EXPECT_DOUBLE_EQ(p.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(p.jitter, 0.2);
  EXPECT_TRUE(Validate(p).ok());
}

TEST(RetryPolicyTest, ValidateNamesBadField) {
  struct Case {
    RetryPolicy policy;
    const char* field;
  };
  RetryPolicy attempts;
  attempts.max_attempts = 0;
  RetryPolicy multiplier;
  multiplier.multiplier = 0.5;
  RetryPolicy jitter_high;
  jitter_high.jitter = 1.5;
  RetryPolicy jitter_low;
  jitter_low.jitter = -0.1;
  RetryPolicy initial;
  initial.initial_backoff = -1ms;
  RetryPolicy max;
  max.max_backoff = -1ms;
  for (const Case& c :
       {Case{attempts, "max_attempts"}, Case{multiplier, "multiplier"}, Case{jitter_high, "jitter"},
        Case{jitter_low, "jitter"}, Case{initial, "initial_backoff"}, Case{max, "max_backoff"}}) {
    Status s = Validate(c.policy);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(s.message(), HasSubstr(c.field));
  }
  RetryPolicy edges;
  edges.multiplier = 1.0;
  edges.jitter = 1.0;
  edges.initial_backoff = 0ms;
  EXPECT_TRUE(Validate(edges).ok());
}

TEST(DeadlineTest, ExpiresAfterTimeout) {
  FakeClock clock;
  Deadline d(clock, 2s);
  EXPECT_FALSE(d.Expired());
  EXPECT_EQ(d.Remaining(), 2s);
  clock.Advance(1500ms);
  EXPECT_EQ(d.Remaining(), 500ms);
  clock.Advance(500ms);
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.Remaining(), Clock::Duration::zero());
  clock.Advance(1s);
  EXPECT_EQ(d.Remaining(), Clock::Duration::zero());
}

TEST(DeadlineTest, NonPositiveTimeoutIsExpired) {
  FakeClock clock;
  EXPECT_TRUE(Deadline(clock, 0s).Expired());
  EXPECT_TRUE(Deadline(clock, -1s).Expired());
}

TEST(DeadlineTest, InfiniteNeverExpires) {
  FakeClock clock;
  Deadline d = Deadline::Infinite(clock);
  clock.Advance(24h * 365 * 100);
  EXPECT_FALSE(d.Expired());
  EXPECT_EQ(d.Remaining(), Clock::Duration::max());
  EXPECT_TRUE(d.infinite());
}

TEST(DeadlineTest, HugeTimeoutSaturates) {
  FakeClock clock;
  clock.Advance(1s);
  Deadline d(clock, Clock::Duration::max());
  EXPECT_FALSE(d.Expired());
  EXPECT_GT(d.Remaining(), 24h * 365 * 100);
}

TEST(BackoffTest, ExponentialAndCappedWithoutJitter) {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1s;
  p.multiplier = 3;
  p.jitter = 0;
  std::mt19937_64 rng(1);
  Backoff b(p, rng);
  EXPECT_EQ(b.Next(), 100ms);
  EXPECT_EQ(b.Next(), 300ms);
  EXPECT_EQ(b.Next(), 900ms);
  EXPECT_EQ(b.Next(), 1s);
  EXPECT_EQ(b.Next(), 1s);
  b.Reset();
  EXPECT_EQ(b.Next(), 100ms);
}

TEST(BackoffTest, JitterStaysWithinFractionAndVaries) {
  RetryPolicy p;
  p.initial_backoff = 1s;
  p.max_backoff = 1s;
  p.jitter = 0.2;
  std::mt19937_64 rng(7);
  Backoff b(p, rng);
  Clock::Duration lo = Clock::Duration::max();
  Clock::Duration hi = Clock::Duration::zero();
  for (int i = 0; i < 1000; ++i) {
    Clock::Duration d = b.Next();
    EXPECT_GE(d, 800ms);
    EXPECT_LE(d, 1200ms);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 850ms);
  EXPECT_GT(hi, 1150ms);
}

TEST(BackoffTest, SameSeedSameSequence) {
  RetryPolicy p;
  std::mt19937_64 rng1(99);
  std::mt19937_64 rng2(99);
  Backoff a(p, rng1);
  Backoff b(p, rng2);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(a.Next(), b.Next());
  }
}

TEST(BackoffDelayTest, MatchesBackoffSequence) {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1s;
  p.multiplier = 3;
  p.jitter = 0;
  std::mt19937_64 rng(1);
  EXPECT_EQ(BackoffDelay(p, 0, rng), 100ms);
  EXPECT_EQ(BackoffDelay(p, 1, rng), 300ms);
  EXPECT_EQ(BackoffDelay(p, 2, rng), 900ms);
  EXPECT_EQ(BackoffDelay(p, 3, rng), 1s);
  EXPECT_EQ(BackoffDelay(p, 4000000000u, rng), 1s);
}

TEST(BackoffDelayTest, JitterScalesWithinFraction) {
  RetryPolicy p;
  p.initial_backoff = 1s;
  p.max_backoff = 10s;
  p.multiplier = 2;
  p.jitter = 0.5;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    Clock::Duration d = BackoffDelay(p, 2, rng);
    EXPECT_GE(d, 2s);
    EXPECT_LE(d, 6s);
  }
}

RetryPolicy NoJitter(uint32_t attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.jitter = 0;
  return p;
}

TEST(RetryTest, StopsOnFirstSuccess) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  Status s = Retry(NoJitter(5), Deadline::Infinite(clock), clock, rng, [&] {
    ++calls;
    return calls < 3 ? Status::Unavailable("down") : Status::Ok();
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(Elapsed(clock), 100ms + 200ms);
}

TEST(RetryTest, NonRetryableReturnedAsIs) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  Status s = Retry(NoJitter(5), Deadline::Infinite(clock), clock, rng, [&] {
    ++calls;
    return Status::Corruption("bad digest");
  });
  EXPECT_EQ(s, Status::Corruption("bad digest"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Elapsed(clock), Clock::Duration::zero());
}

TEST(RetryTest, MaxAttemptsReturnsLastErrorWithContext) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  Status s = Retry(NoJitter(3), Deadline::Infinite(clock), clock, rng, [&] {
    ++calls;
    return Status::Unavailable("refused " + std::to_string(calls));
  });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "after 3 attempts: refused 3");
  EXPECT_EQ(Elapsed(clock), 300ms);  // no wait after the last attempt
}

TEST(RetryTest, CustomPredicate) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  auto attempt = [&] {
    ++calls;
    return Status::NotFound("not yet");
  };
  auto not_found_is_retryable = [](const Status& s) { return s.IsNotFound(); };
  Status s =
      Retry(NoJitter(2), Deadline::Infinite(clock), clock, rng, attempt, not_found_is_retryable);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

TEST(RetryTest, StopsWhenNextWaitWouldPassDeadline) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  Deadline deadline(clock, 250ms);
  int calls = 0;
  Status s = Retry(NoJitter(10), deadline, clock, rng, [&] {
    ++calls;
    return Status::Unavailable("connection refused");
  });
  // Attempt 1, wait 100 ms, attempt 2; the next wait (200 ms) would pass 250 ms.
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("connection refused"));
  EXPECT_EQ(Elapsed(clock), 100ms);
}

TEST(RetryTest, ExpiredDeadlineMakesNoAttempt) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  Status s = Retry(NoJitter(3), Deadline(clock, 0s), clock, rng, [&] {
    ++calls;
    return Status::Ok();
  });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
}

TEST(RetryTest, DeadlineConsumedByAttemptsStopsBeforeNextAttempt) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  Deadline deadline(clock, 1s);
  int calls = 0;
  Status s = Retry(NoJitter(10), deadline, clock, rng, [&] {
    ++calls;
    clock.Advance(600ms);  // a slow attempt
    return Status::Unavailable("slow");
  });
  // 600 ms + 100 ms wait + 600 ms: the second attempt ends past the deadline.
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("slow"));
}

TEST(RetryTest, ZeroMaxAttemptsStillTriesOnce) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int calls = 0;
  Status s = Retry(NoJitter(0), Deadline::Infinite(clock), clock, rng, [&] {
    ++calls;
    return Status::Unavailable("x");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace feilong
