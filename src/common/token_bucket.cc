#include "common/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace feilong {

namespace {

// Floating-point slack: a request short by less than this many tokens is
// granted, so rounding never costs an extra wait step.
constexpr double kSlack = 1e-9;

// Validates the arguments and resolves a burst of 0 to one second of rate.
double CheckedBurst(double rate, double burst) {
  if (!std::isfinite(rate) || rate < 0 || !std::isfinite(burst) || burst < 0) {
    std::fprintf(stderr, "TokenBucket: rate %g and burst %g must be finite and >= 0\n", rate,
                 burst);
    std::abort();
  }
  return burst > 0 ? burst : rate;
}

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, double burst, Clock& clock)
    : clock_(clock),
      rate_(rate_per_second),
      burst_(CheckedBurst(rate_per_second, burst)),
      tokens_(burst_),
      last_refill_(clock.Now()) {}

void TokenBucket::RefillLocked() {
  Clock::TimePoint now = clock_.Now();
  if (now > last_refill_ && rate_ > 0) {
    double seconds = std::chrono::duration<double>(now - last_refill_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  }
  last_refill_ = std::max(now, last_refill_);
}

bool TokenBucket::TryAcquireLocked(double n) {
  if (rate_ == 0 || n <= 0) {
    return true;
  }
  RefillLocked();
  if (tokens_ + kSlack < std::min(n, burst_)) {
    return false;
  }
  tokens_ -= n;
  return true;
}

Clock::Duration TokenBucket::DelayLocked(double n) const {
  if (rate_ == 0 || n <= 0) {
    return Clock::Duration::zero();
  }
  double missing = std::min(n, burst_) - tokens_;
  if (missing <= kSlack) {
    return Clock::Duration::zero();
  }
  double ns = std::ceil(missing / rate_ * 1e9);
  constexpr double kMaxNs = 1e18;  // ~31 years; avoids overflowing Duration
  return Clock::Duration(static_cast<Clock::Duration::rep>(std::min(ns, kMaxNs)));
}

bool TokenBucket::TryAcquire(double n) {
  MutexLock lock(mutex_);
  return TryAcquireLocked(n);
}

Clock::Duration TokenBucket::DelayUntilAvailable(double n) {
  MutexLock lock(mutex_);
  if (rate_ > 0) {
    RefillLocked();
  }
  return DelayLocked(n);
}

Status TokenBucket::Acquire(double n, std::stop_token stop) {
  while (true) {
    if (stop.stop_requested()) {
      return Status::Cancelled("rate limiter wait cancelled");
    }
    Clock::Duration delay;
    {
      MutexLock lock(mutex_);
      if (TryAcquireLocked(n)) {
        return Status::Ok();
      }
      delay = DelayLocked(n);
    }
    // At least 1 ns so a rounding-level shortfall still advances time.
    clock_.SleepFor(std::clamp(delay, Clock::Duration(1), kMaxWaitStep));
  }
}

void TokenBucket::SetRate(double rate_per_second, double burst) {
  MutexLock lock(mutex_);
  double new_burst = CheckedBurst(rate_per_second, burst);
  bool was_unlimited = rate_ == 0;
  RefillLocked();
  rate_ = rate_per_second;
  burst_ = new_burst;
  tokens_ = was_unlimited ? burst_ : std::min(tokens_, burst_);
}

double TokenBucket::rate() const {
  MutexLock lock(mutex_);
  return rate_;
}

double TokenBucket::burst() const {
  MutexLock lock(mutex_);
  return burst_;
}

}  // namespace feilong
