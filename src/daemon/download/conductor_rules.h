// The conductor's rules that depend on time or chance, as pure functions of
// what the caller passes in (the clock reading, the random draw), so they
// are tested from tables and replayed exactly in a simulated swarm. The
// Download applies them; it decides nothing of this kind itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "common/clock.h"
#include "common/retry.h"
#include "common/status.h"

namespace feilong::daemon::conductor {

// A parent is dropped (and blocked for the task) after this many failed
// pieces.
inline constexpr uint32_t kParentFailureLimit = 2;

// After a piece from a parent failed with `failure` (its `failures`-th
// failure, this one included): true to drop the parent. A bad digest or a
// timeout drops it at once: both mean it cannot serve this task well.
bool DropsParent(const Status& failure, uint32_t failures);

// How long a parent that answered busy is left alone: `base` plus a
// uniform draw in [0, base], so children turned away together do not come
// back together.
Clock::Duration BusyBackoff(Clock::Duration base, std::mt19937_64& rng);

// What a download does when checked for a stall.
enum class StallVerdict {
  kNone,         // progress within the stall timeout
  kMoreParents,  // stalled: ask the scheduler for other parents
  kOrigin,       // stalled, and other parents will not help: go to the origin
};
struct StallInput {
  Clock::TimePoint now;
  // The last piece or body byte received (or new parent added).
  Clock::TimePoint last_progress;
  Clock::Duration stall_timeout{};
  uint32_t reschedules = 0;
  uint32_t max_reschedules = 0;
  // A usable parent holds a piece the download lacks (only meaningful once
  // the piece count is known).
  bool parents_have_missing_pieces = false;
  bool geometry_known = false;
};
// Parents that hold nothing the download lacks after a whole stall period
// (they wait for the same pieces) will not help: the origin will.
StallVerdict JudgeStall(const StallInput& input);

// After a parent was blocked, how long a download may sit starved (nothing
// in flight, no usable parent holding a piece it lacks and can verify)
// before it asks the scheduler for other parents, rather than waiting for
// the whole stall timeout.
inline constexpr Clock::Duration kStarvedPatience = std::chrono::seconds(1);

// True when the parents a download has cannot feed it: no transfer from a
// parent in flight and no usable parent holding a missing piece whose
// digest is known. Such parents do not stand in the way of the scheduler's
// "back to source".
bool Starved(uint32_t parent_transfers, bool parents_have_missing_pieces);

// After an attempt at the origin failed: give up (the download fails), or
// try again after `delay`.
struct RetryVerdict {
  bool give_up = false;
  Clock::Duration delay{};
};
// `attempts` made so far, the failed one included. A piece's digest
// mismatch is retried (`corruption_retryable`: the bytes may be right on
// the next read); ResourceExhausted is our own disk, never retried;
// otherwise Status::IsRetryable decides, up to `policy.max_attempts`.
RetryVerdict JudgeOriginFailure(const Status& failure, uint32_t attempts, const RetryPolicy& policy,
                                bool corruption_retryable, std::mt19937_64& rng);

}  // namespace feilong::daemon::conductor
