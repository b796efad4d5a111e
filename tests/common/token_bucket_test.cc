#include "common/token_bucket.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace feilong {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, StartsFullAndRefillsAtRate) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);  // 10 tokens/s, burst 5
  EXPECT_TRUE(b.TryAcquire(5));
  EXPECT_FALSE(b.TryAcquire(1));
  clock.Advance(99ms);
  EXPECT_FALSE(b.TryAcquire(1));
  clock.Advance(1ms);
  EXPECT_TRUE(b.TryAcquire(1));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, RefillIsCappedAtBurst) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  ASSERT_TRUE(b.TryAcquire(5));
  clock.Advance(1h);
  EXPECT_TRUE(b.TryAcquire(5));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, FailedTryAcquireTakesNothing) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  ASSERT_TRUE(b.TryAcquire(3));
  EXPECT_FALSE(b.TryAcquire(3));
  EXPECT_TRUE(b.TryAcquire(2));
}

TEST(TokenBucketTest, ZeroRateIsUnlimited) {
  FakeClock clock;
  TokenBucket b(0, 0, clock);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(b.TryAcquire(1e12));
  }
  EXPECT_EQ(b.DelayUntilAvailable(1e12), Clock::Duration::zero());
  EXPECT_TRUE(b.Acquire(1e12, std::stop_token()).ok());
  EXPECT_EQ(clock.Now().time_since_epoch(), Clock::Duration::zero());
}

TEST(TokenBucketTest, ZeroBurstMeansOneSecondOfRate) {
  FakeClock clock;
  TokenBucket b(100, 0, clock);
  EXPECT_DOUBLE_EQ(b.burst(), 100);
  EXPECT_TRUE(b.TryAcquire(100));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, NonPositiveRequestsAreFree) {
  FakeClock clock;
  TokenBucket b(1, 1, clock);
  ASSERT_TRUE(b.TryAcquire(1));
  EXPECT_TRUE(b.TryAcquire(0));
  EXPECT_TRUE(b.TryAcquire(-3));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, DelayUntilAvailable) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  EXPECT_EQ(b.DelayUntilAvailable(5), Clock::Duration::zero());
  ASSERT_TRUE(b.TryAcquire(5));
  EXPECT_EQ(b.DelayUntilAvailable(1), 100ms);
  EXPECT_EQ(b.DelayUntilAvailable(5), 500ms);
  // Asking does not take anything.
  clock.Advance(100ms);
  EXPECT_EQ(b.DelayUntilAvailable(1), Clock::Duration::zero());
  EXPECT_TRUE(b.TryAcquire(1));
}

TEST(TokenBucketTest, RequestLargerThanBurstGoesIntoDebt) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  // Granted with a full bucket although 20 > burst; leaves 15 tokens of debt.
  EXPECT_TRUE(b.TryAcquire(20));
  EXPECT_FALSE(b.TryAcquire(1));
  // Debt of 15 then 1 more token: 1.6 s.
  EXPECT_EQ(b.DelayUntilAvailable(1), 1600ms);
  clock.Advance(1599ms);
  EXPECT_FALSE(b.TryAcquire(1));
  clock.Advance(1ms);
  EXPECT_TRUE(b.TryAcquire(1));
}

TEST(TokenBucketTest, LargeRequestWaitsForFullBucketOnly) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  ASSERT_TRUE(b.TryAcquire(5));
  // A 50-token request needs the bucket full (5 tokens), not 50.
  EXPECT_EQ(b.DelayUntilAvailable(50), 500ms);
  clock.Advance(400ms);
  EXPECT_FALSE(b.TryAcquire(50));
  clock.Advance(100ms);
  EXPECT_TRUE(b.TryAcquire(50));
}

TEST(TokenBucketTest, AcquireWaitsOnTheClock) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  ASSERT_TRUE(b.Acquire(5, std::stop_token()).ok());
  EXPECT_EQ(clock.Now().time_since_epoch(), Clock::Duration::zero());
  ASSERT_TRUE(b.Acquire(3, std::stop_token()).ok());
  EXPECT_EQ(clock.Now().time_since_epoch(), 300ms);
  EXPECT_FALSE(b.TryAcquire(0.5));
}

TEST(TokenBucketTest, LongRunRateHoldsWithDebt) {
  FakeClock clock;
  TokenBucket b(1000, 100, clock);  // 1000/s
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(b.Acquire(1000, std::stop_token()).ok());  // 10x the burst each time
  }
  // The first is granted from the full bucket (leaving 900 of debt); each
  // later one waits 1 s for the debt to clear and the bucket to refill.
  EXPECT_NEAR(std::chrono::duration<double>(clock.Now().time_since_epoch()).count(), 9.0, 0.01);
}

// A clock that records each sleep and requests stop after `stop_after` sleeps.
class StoppingClock final : public Clock {
 public:
  StoppingClock(std::stop_source& source, int stop_after)
      : source_(source), stop_after_(stop_after) {}
  TimePoint Now() const override { return fake_.Now(); }
  int64_t NowUnixSeconds() const override { return fake_.NowUnixSeconds(); }
  void SleepFor(Duration d) override {
    sleeps.push_back(d);
    fake_.Advance(d);
    if (static_cast<int>(sleeps.size()) == stop_after_) {
      source_.request_stop();
    }
  }
  std::vector<Duration> sleeps;

 private:
  FakeClock fake_;
  std::stop_source& source_;
  int stop_after_;
};

TEST(TokenBucketTest, AcquireSleepsInBoundedStepsAndObservesStop) {
  std::stop_source source;
  StoppingClock clock(source, 3);
  TokenBucket b(1, 1, clock);  // 1 token/s
  ASSERT_TRUE(b.TryAcquire(1));
  Status s = b.Acquire(1, source.get_token());  // needs 1 s
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  ASSERT_EQ(clock.sleeps.size(), 3u);
  for (auto d : clock.sleeps) {
    EXPECT_LE(d, TokenBucket::kMaxWaitStep);
    EXPECT_GT(d, Clock::Duration::zero());
  }
  // The cancelled request took nothing: after the full second it is there.
  clock.SleepFor(1s);
  EXPECT_TRUE(b.TryAcquire(1));
}

TEST(TokenBucketTest, AcquireWithStopRequestedIsCancelled) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  std::stop_source source;
  source.request_stop();
  EXPECT_EQ(b.Acquire(1, source.get_token()).code(), StatusCode::kCancelled);
  EXPECT_TRUE(b.TryAcquire(5));  // nothing was taken
}

TEST(TokenBucketTest, SetRateKeepsTokensCappedAtNewBurst) {
  FakeClock clock;
  TokenBucket b(10, 10, clock);
  ASSERT_TRUE(b.TryAcquire(4));  // 6 left
  b.SetRate(100, 3);             // capped to 3
  EXPECT_DOUBLE_EQ(b.rate(), 100);
  EXPECT_DOUBLE_EQ(b.burst(), 3);
  EXPECT_TRUE(b.TryAcquire(3));
  EXPECT_FALSE(b.TryAcquire(1));
  clock.Advance(10ms);  // 1 token at the new rate
  EXPECT_TRUE(b.TryAcquire(1));
}

TEST(TokenBucketTest, SetRateCreditsTimeAtOldRate) {
  FakeClock clock;
  TokenBucket b(10, 10, clock);
  ASSERT_TRUE(b.TryAcquire(10));
  clock.Advance(500ms);  // 5 tokens at the old rate
  b.SetRate(1, 10);
  EXPECT_TRUE(b.TryAcquire(5));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, SetRateBetweenLimitedAndUnlimited) {
  FakeClock clock;
  TokenBucket b(10, 5, clock);
  ASSERT_TRUE(b.TryAcquire(5));
  b.SetRate(0, 0);
  EXPECT_TRUE(b.TryAcquire(1000));
  b.SetRate(10, 5);  // starts full
  EXPECT_TRUE(b.TryAcquire(5));
  EXPECT_FALSE(b.TryAcquire(1));
}

TEST(TokenBucketTest, ConcurrentTryAcquireNeverOvergrants) {
  FakeClock clock;
  TokenBucket b(1, 1000, clock);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (b.TryAcquire(1)) {
          granted.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(granted.load(), 1000);
}

TEST(TokenBucketDeathTest, NegativeRateAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  FakeClock clock;
  EXPECT_DEATH(TokenBucket(-1, 1, clock), "finite and >= 0");
}

}  // namespace
}  // namespace feilong
