// TokenBucket: a rate limiter for bytes (or any unit) per second.
//
// Tokens accrue at `rate_per_second` up to `burst`; the bucket starts full.
// A request for n tokens is granted when the bucket holds min(n, burst):
// a request larger than the burst is granted once the bucket is full and
// then leaves the bucket in debt (negative), which later requests wait out.
// So a 16 MiB piece under a 4 MiB burst is never starved, and the long-run
// rate still holds.
//
//   TokenBucket limiter(12.5e6, 4 << 20, SteadyClock::Default());  // 100 Mbit/s
//   FL_RETURN_IF_ERROR(limiter.Acquire(bytes.size(), stop));
//
// Thread rule: all methods are thread-safe (one mutex, never held while
// sleeping). The Clock must outlive the bucket.
#pragma once

#include <chrono>
#include <stop_token>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace feilong {

class TokenBucket {
 public:
  // Acquire sleeps at most this long between checks of its stop token.
  static constexpr Clock::Duration kMaxWaitStep = std::chrono::milliseconds(100);

  // `rate_per_second` tokens per second; 0 means unlimited (every request is
  // granted at once). `burst`: the bucket's capacity in tokens; 0 means one
  // second's worth of the rate. REQUIRES: both finite and >= 0 (else aborts).
  TokenBucket(double rate_per_second, double burst, Clock& clock);

  TokenBucket(const TokenBucket&) = delete;
  TokenBucket& operator=(const TokenBucket&) = delete;

  // Takes n tokens if the request can be granted now (see above); false and
  // no change otherwise. n <= 0 is always granted.
  bool TryAcquire(double n);

  // How long until a request for n tokens could be granted (0 if now). Takes
  // nothing; another caller may take the tokens first.
  Clock::Duration DelayUntilAvailable(double n);

  // Waits until n tokens are granted, then takes them. Sleeps with
  // clock.SleepFor in steps of at most kMaxWaitStep. Cancelled if `stop` is
  // requested before the tokens are granted (including on entry).
  Status Acquire(double n, std::stop_token stop);

  // Changes rate and burst (same meaning and REQUIRES as the constructor).
  // Tokens accrued so far are kept, capped at the new burst; a bucket that was
  // unlimited starts full.
  void SetRate(double rate_per_second, double burst);

  double rate() const;
  double burst() const;

 private:
  // Adds the tokens accrued since the last refill.
  void RefillLocked() FL_REQUIRES(mutex_);
  // Grants n tokens if possible.
  bool TryAcquireLocked(double n) FL_REQUIRES(mutex_);
  // After RefillLocked.
  Clock::Duration DelayLocked(double n) const FL_REQUIRES(mutex_);

  Clock& clock_;
  mutable Mutex mutex_;
  double rate_ FL_GUARDED_BY(mutex_);    // tokens per second; 0 = unlimited
  double burst_ FL_GUARDED_BY(mutex_);   // capacity
  double tokens_ FL_GUARDED_BY(mutex_);  // may be negative (debt)
  Clock::TimePoint last_refill_ FL_GUARDED_BY(mutex_);
};

}  // namespace feilong
