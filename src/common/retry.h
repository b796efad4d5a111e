// Retrying with exponential backoff under a deadline.
//
//   std::mt19937_64 rng(seed);
//   Deadline deadline(clock, 30s);
//   Status s = Retry(policy, deadline, clock, rng, [&] { return FetchPiece(deadline); });
//
// Thread rule: RetryPolicy and Deadline are values; a Deadline may be read
// from several threads. Backoff and Retry use the caller's RNG, which must
// not be shared between threads without the caller's own locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

#include "common/clock.h"
#include "common/status.h"

namespace feilong {

struct RetryPolicy {
  // Attempts in total, the first included. >= 1. Default: 3.
  uint32_t max_attempts = 3;
  // Wait before the second attempt. >= 0. Default: 100 ms.
  Clock::Duration initial_backoff = std::chrono::milliseconds(100);
  // Upper bound of the wait before jitter. >= 0. Default: 5 s.
  Clock::Duration max_backoff = std::chrono::seconds(5);
  // Each wait is the previous one times this. >= 1. Default: 2.0.
  double multiplier = 2.0;
  // Each wait is scaled by a uniform random factor in [1 - jitter, 1 + jitter],
  // so peers retrying together spread out. In [0, 1]. Default: 0.2.
  double jitter = 0.2;
};

// InvalidArgument naming the first bad field (see the ranges above).
Status Validate(const RetryPolicy& policy);

// A point in time after which work should stop.
class Deadline {
 public:
  // Expires `timeout` from now (a negative or zero timeout: already expired).
  Deadline(Clock& clock, Clock::Duration timeout);
  // Never expires.
  static Deadline Infinite(Clock& clock);

  bool Expired() const;
  // Time left: zero once expired; Clock::Duration::max() when infinite.
  Clock::Duration Remaining() const;
  bool infinite() const { return infinite_; }

 private:
  Deadline(Clock& clock, Clock::TimePoint at, bool infinite);

  Clock* clock_;
  Clock::TimePoint at_;
  bool infinite_;
};

// The sequence of waits between attempts: the k-th call to Next() (k from 0)
// returns min(initial_backoff * multiplier^k, max_backoff) scaled by a
// uniform factor in [1 - jitter, 1 + jitter]. Not thread-safe.
class Backoff {
 public:
  // Keeps a copy of `policy` and a reference to `rng`, which must outlive it.
  Backoff(const RetryPolicy& policy, std::mt19937_64& rng);

  Clock::Duration Next();
  // Starts the sequence again from initial_backoff.
  void Reset();

 private:
  RetryPolicy policy_;
  std::mt19937_64& rng_;
  Clock::Duration current_;  // before jitter
};

// The wait before retry number `retry` (0 is the wait after the first failed
// attempt), for callers that schedule retries instead of sleeping (an event
// loop): min(initial_backoff * multiplier^retry, max_backoff), scaled by a
// uniform factor in [1 - jitter, 1 + jitter] drawn from `rng`. Backoff::Next()
// returns the same sequence.
Clock::Duration BackoffDelay(const RetryPolicy& policy, uint32_t retry, std::mt19937_64& rng);

// The default retry predicate: Status::IsRetryable (Unavailable,
// DeadlineExceeded, ResourceExhausted, IOError).
inline bool IsRetryable(const Status& status) { return status.IsRetryable(); }

// Calls `attempt` until it succeeds or retrying stops, sleeping
// Backoff::Next() with clock.SleepFor between attempts. Returns:
//   - OK as soon as an attempt returns OK;
//   - a non-retryable error (per `retryable`) as is;
//   - after max_attempts failures, the last error with the context
//     "after N attempts" (its code kept);
//   - DeadlineExceeded carrying the last error's message when the deadline
//     has expired before an attempt or the next wait would pass it (before
//     the first attempt: DeadlineExceeded without calling `attempt`).
// A policy that fails Validate is used with max_attempts of at least 1.
Status Retry(const RetryPolicy& policy, const Deadline& deadline, Clock& clock,
             std::mt19937_64& rng, const std::function<Status()>& attempt,
             const std::function<bool(const Status&)>& retryable = IsRetryable);

}  // namespace feilong
