#include "common/retry.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace feilong {

namespace {

std::string FormatDuration(Clock::Duration d) {
  using std::chrono::duration_cast;
  auto ms = duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms) + "ms";
}

// d * factor, clamped to [0, Duration::max()].
Clock::Duration Scale(Clock::Duration d, double factor) {
  double ns = static_cast<double>(d.count()) * factor;
  if (!(ns > 0)) {
    return Clock::Duration::zero();
  }
  constexpr double kMax = static_cast<double>(Clock::Duration::max().count());
  if (ns >= kMax) {
    return Clock::Duration::max();
  }
  return Clock::Duration(static_cast<Clock::Duration::rep>(ns));
}

}  // namespace

Status Validate(const RetryPolicy& policy) {
  if (policy.max_attempts < 1) {
    return Status::InvalidArgument("retry policy: max_attempts must be >= 1, got 0");
  }
  if (policy.initial_backoff < Clock::Duration::zero()) {
    return Status::InvalidArgument("retry policy: initial_backoff must not be negative, got " +
                                   FormatDuration(policy.initial_backoff));
  }
  if (policy.max_backoff < Clock::Duration::zero()) {
    return Status::InvalidArgument("retry policy: max_backoff must not be negative, got " +
                                   FormatDuration(policy.max_backoff));
  }
  if (!(policy.multiplier >= 1.0) || !std::isfinite(policy.multiplier)) {
    return Status::InvalidArgument("retry policy: multiplier must be >= 1, got " +
                                   std::to_string(policy.multiplier));
  }
  if (!(policy.jitter >= 0.0 && policy.jitter <= 1.0)) {
    return Status::InvalidArgument("retry policy: jitter must be in [0, 1], got " +
                                   std::to_string(policy.jitter));
  }
  return Status::Ok();
}

// ---- Deadline ----

Deadline::Deadline(Clock& clock, Clock::Duration timeout)
    : clock_(&clock), at_(clock.Now()), infinite_(false) {
  if (timeout > Clock::Duration::zero()) {
    // Saturate instead of overflowing for huge timeouts.
    Clock::Duration room = Clock::TimePoint::max() - at_;
    at_ += std::min(timeout, room);
  }
}

Deadline::Deadline(Clock& clock, Clock::TimePoint at, bool infinite)
    : clock_(&clock), at_(at), infinite_(infinite) {}

Deadline Deadline::Infinite(Clock& clock) { return Deadline(clock, Clock::TimePoint::max(), true); }

bool Deadline::Expired() const { return !infinite_ && clock_->Now() >= at_; }

Clock::Duration Deadline::Remaining() const {
  if (infinite_) {
    return Clock::Duration::max();
  }
  Clock::TimePoint now = clock_->Now();
  return now >= at_ ? Clock::Duration::zero() : at_ - now;
}

// ---- Backoff ----

Backoff::Backoff(const RetryPolicy& policy, std::mt19937_64& rng)
    : policy_(policy), rng_(rng), current_(std::max(policy.initial_backoff, Clock::Duration{})) {}

Clock::Duration Backoff::Next() {
  Clock::Duration base = std::min(current_, std::max(policy_.max_backoff, Clock::Duration{}));
  current_ = std::min(Scale(current_, std::max(policy_.multiplier, 1.0)),
                      std::max(policy_.max_backoff, Clock::Duration{}));
  double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  if (jitter == 0.0 || base == Clock::Duration::zero()) {
    return base;
  }
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return Scale(base, factor(rng_));
}

Clock::Duration BackoffDelay(const RetryPolicy& policy, uint32_t retry, std::mt19937_64& rng) {
  const Clock::Duration cap = std::max(policy.max_backoff, Clock::Duration{});
  Clock::Duration base = std::min(std::max(policy.initial_backoff, Clock::Duration{}), cap);
  for (uint32_t i = 0; i < retry && base < cap; ++i) {
    base = std::min(Scale(base, std::max(policy.multiplier, 1.0)), cap);
  }
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  if (jitter == 0.0 || base == Clock::Duration::zero()) {
    return base;
  }
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return Scale(base, factor(rng));
}

void Backoff::Reset() { current_ = std::max(policy_.initial_backoff, Clock::Duration{}); }

// ---- Retry ----

Status Retry(const RetryPolicy& policy, const Deadline& deadline, Clock& clock,
             std::mt19937_64& rng, const std::function<Status()>& attempt,
             const std::function<bool(const Status&)>& retryable) {
  const uint32_t max_attempts = std::max<uint32_t>(policy.max_attempts, 1);
  Backoff backoff(policy, rng);
  Status last;
  for (uint32_t n = 1;; ++n) {
    if (deadline.Expired()) {
      if (n == 1) {
        return Status::DeadlineExceeded("deadline expired before the first attempt");
      }
      return Status::DeadlineExceeded("deadline expired after " + std::to_string(n - 1) +
                                      " attempts: " + last.message());
    }
    last = attempt();
    if (last.ok() || !retryable(last)) {
      return last;
    }
    if (n >= max_attempts) {
      return last.WithContext("after " + std::to_string(n) + " attempts");
    }
    Clock::Duration wait = backoff.Next();
    if (wait >= deadline.Remaining()) {
      return Status::DeadlineExceeded("deadline would pass during the " + FormatDuration(wait) +
                                      " wait after attempt " + std::to_string(n) + ": " +
                                      last.message());
    }
    clock.SleepFor(wait);
  }
}

}  // namespace feilong
