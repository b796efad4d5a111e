#include "daemon/download/conductor_rules.h"

namespace feilong::daemon::conductor {

bool DropsParent(const Status& failure, uint32_t failures) {
  return failure.IsCorruption() || failure.code() == StatusCode::kDeadlineExceeded ||
         failures >= kParentFailureLimit;
}

Clock::Duration BusyBackoff(Clock::Duration base, std::mt19937_64& rng) {
  if (base <= Clock::Duration::zero()) {
    return Clock::Duration::zero();
  }
  std::uniform_int_distribution<int64_t> extra(0, base.count());
  return base + Clock::Duration(extra(rng));
}

bool Starved(uint32_t parent_transfers, bool parents_have_missing_pieces) {
  return parent_transfers == 0 && !parents_have_missing_pieces;
}

StallVerdict JudgeStall(const StallInput& input) {
  if (input.now - input.last_progress <= input.stall_timeout) {
    return StallVerdict::kNone;
  }
  if (input.reschedules >= input.max_reschedules ||
      (input.geometry_known && !input.parents_have_missing_pieces)) {
    return StallVerdict::kOrigin;
  }
  return StallVerdict::kMoreParents;
}

RetryVerdict JudgeOriginFailure(const Status& failure, uint32_t attempts, const RetryPolicy& policy,
                                bool corruption_retryable, std::mt19937_64& rng) {
  bool retryable = (corruption_retryable && failure.IsCorruption()) ||
                   (failure.IsRetryable() && failure.code() != StatusCode::kResourceExhausted);
  if (!retryable || attempts >= policy.max_attempts) {
    return RetryVerdict{true, {}};
  }
  uint32_t retry = attempts == 0 ? 0 : attempts - 1;
  return RetryVerdict{false, BackoffDelay(policy, retry, rng)};
}

}  // namespace feilong::daemon::conductor
