#include "daemon/download/conductor_rules.h"

#include <gtest/gtest.h>

#include <set>

namespace feilong::daemon::conductor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ConductorRulesTest, DropsParentTable) {
  struct Case {
    const char* name;
    Status failure;
    uint32_t failures;
    bool drops;
  };
  const Case cases[] = {
      {"first refusal", Status::Unavailable("connection refused"), 1, false},
      {"second refusal", Status::Unavailable("connection refused"), 2, true},
      {"bad digest at once", Status::Corruption("digest"), 1, true},
      {"timeout at once", Status::DeadlineExceeded("stalled"), 1, true},
      {"io error, first", Status::IOError("reset"), 1, false},
      {"io error, third", Status::IOError("reset"), 3, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(DropsParent(c.failure, c.failures), c.drops) << c.name;
  }
}

TEST(ConductorRulesTest, BusyBackoffStaysWithinBaseAndTwiceBaseAndVaries) {
  std::mt19937_64 rng(7);
  const Clock::Duration base = milliseconds(100);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    Clock::Duration d = BusyBackoff(base, rng);
    EXPECT_GE(d, base);
    EXPECT_LE(d, 2 * base);
    seen.insert(d.count());
  }
  EXPECT_GT(seen.size(), 100U) << "jitter must spread children apart";
  EXPECT_EQ(BusyBackoff(Clock::Duration::zero(), rng), Clock::Duration::zero());
}

TEST(ConductorRulesTest, BusyBackoffIsReplayedBySeed) {
  std::mt19937_64 a(42);
  std::mt19937_64 b(42);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(BusyBackoff(milliseconds(50), a), BusyBackoff(milliseconds(50), b));
  }
}

TEST(ConductorRulesTest, JudgeStallTable) {
  const Clock::TimePoint t0{seconds(1000)};
  struct Case {
    const char* name;
    Clock::Duration since_progress;
    uint32_t reschedules;
    bool parents_have_missing;
    bool geometry_known;
    StallVerdict verdict;
  };
  const Case cases[] = {
      {"progress within the timeout", seconds(9), 0, true, true, StallVerdict::kNone},
      {"exactly at the timeout", seconds(10), 0, true, true, StallVerdict::kNone},
      {"stalled, parents hold what we lack", seconds(11), 0, true, true,
       StallVerdict::kMoreParents},
      {"stalled, parents hold nothing we lack", seconds(11), 0, false, true, StallVerdict::kOrigin},
      {"stalled, reschedules used up", seconds(11), 3, true, true, StallVerdict::kOrigin},
      {"stalled before the length is known", seconds(11), 1, false, false,
       StallVerdict::kMoreParents},
  };
  for (const auto& c : cases) {
    StallInput input{t0 + c.since_progress, t0, seconds(10),
                     c.reschedules,         3,  c.parents_have_missing,
                     c.geometry_known};
    EXPECT_EQ(JudgeStall(input), c.verdict) << c.name;
  }
}

TEST(ConductorRulesTest, StarvedOnlyWithNothingInFlightAndNothingToTake) {
  EXPECT_TRUE(Starved(0, false));
  EXPECT_FALSE(Starved(1, false)) << "a transfer from a parent is under way";
  EXPECT_FALSE(Starved(0, true)) << "a parent holds a piece we can take";
  EXPECT_FALSE(Starved(2, true));
}

TEST(ConductorRulesTest, JudgeOriginFailureTable) {
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = seconds(5);
  struct Case {
    const char* name;
    Status failure;
    uint32_t attempts;
    bool corruption_retryable;
    bool give_up;
  };
  const Case cases[] = {
      {"unavailable, first attempt", Status::Unavailable("503"), 1, true, false},
      {"unavailable, attempts used up", Status::Unavailable("503"), 3, true, true},
      {"not found is final", Status::NotFound("404"), 1, true, true},
      {"denied is final", Status::PermissionDenied("403"), 1, true, true},
      {"our disk is full", Status::ResourceExhausted("ENOSPC"), 1, true, true},
      {"piece digest mismatch retried", Status::Corruption("digest"), 1, true, false},
      {"probe corruption is final", Status::Corruption("length"), 1, false, true},
      {"timeout retried", Status::DeadlineExceeded("stall"), 2, false, false},
  };
  for (const auto& c : cases) {
    std::mt19937_64 rng(1);
    RetryVerdict v = JudgeOriginFailure(c.failure, c.attempts, policy, c.corruption_retryable, rng);
    EXPECT_EQ(v.give_up, c.give_up) << c.name;
    if (!v.give_up) {
      EXPECT_GT(v.delay, Clock::Duration::zero()) << c.name;
      EXPECT_LE(v.delay, 2 * policy.max_backoff) << c.name;
    }
  }
}

TEST(ConductorRulesTest, OriginRetryWaitsGrowWithAttempts) {
  RetryPolicy policy;
  policy.max_attempts = 10;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = seconds(60);
  std::mt19937_64 rng(3);
  Clock::Duration first{}, fourth{};
  for (int i = 0; i < 50; ++i) {
    first += JudgeOriginFailure(Status::Unavailable("x"), 1, policy, true, rng).delay;
    fourth += JudgeOriginFailure(Status::Unavailable("x"), 4, policy, true, rng).delay;
  }
  EXPECT_GT(fourth, 4 * first);
}

}  // namespace
}  // namespace feilong::daemon::conductor
