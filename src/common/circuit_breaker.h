// CircuitBreaker: stops calling a failing dependency (a parent peer, an
// origin host) for a while, then probes it.
//
//   closed ──N consecutive failures──▶ open ──open_duration──▶ half-open
//     ▲                                  ▲                         │
//     └──────── probe succeeds ──────────┼──── probe fails ────────┘
//
//   if (!breaker.Allow()) { /* skip this host */ }
//   Status s = Call();
//   s.ok() ? breaker.RecordSuccess() : breaker.RecordFailure();
//
// Every Allow() that returned true should be followed by one Record call.
//
// Thread rule: CircuitBreaker and CircuitBreakerSet are thread-safe. The
// Clock must outlive them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/mutex.h"

namespace feilong {

struct CircuitBreakerConfig {
  // Consecutive failures (while closed) that open the circuit. 0 is taken as
  // 1. Default: 5.
  uint32_t consecutive_failures = 5;
  // How long the circuit stays open before it lets probes through; also how
  // long a half-open round waits for a probe's outcome before allowing new
  // probes (so a probe that is never recorded cannot wedge the circuit).
  // Default: 10 s.
  Clock::Duration open_duration = std::chrono::seconds(10);
  // Calls let through per half-open round. 0 is taken as 1. Default: 1.
  uint32_t half_open_probes = 1;
};

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(const CircuitBreakerConfig& config, Clock& clock);

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Whether a call may be made now. Closed: always. Open: no, until
  // open_duration has passed, then the circuit turns half-open. Half-open:
  // yes for up to half_open_probes calls per round.
  bool Allow();
  // Closed: resets the failure count. Half-open: closes the circuit.
  // Open: ignored (a late result of a call made before it opened).
  void RecordSuccess();
  // Closed: counts a failure, opening the circuit at the threshold.
  // Half-open: reopens for another open_duration. Open: ignored.
  void RecordFailure();

  // The current state; reports kHalfOpen once an open circuit's
  // open_duration has passed, even before the next Allow().
  State state() const;

 private:
  const CircuitBreakerConfig config_;
  Clock& clock_;
  mutable Mutex mutex_;
  State state_ FL_GUARDED_BY(mutex_) = State::kClosed;
  uint32_t failures_ FL_GUARDED_BY(mutex_) = 0;             // consecutive, while closed
  Clock::TimePoint opened_at_ FL_GUARDED_BY(mutex_){};      // when it last opened
  uint32_t probes_ FL_GUARDED_BY(mutex_) = 0;               // let through in this half-open round
  Clock::TimePoint round_started_ FL_GUARDED_BY(mutex_){};  // when this half-open round began
};

// "closed", "open", "half_open" (for logs and metrics).
std::string_view CircuitStateName(CircuitBreaker::State state);

// One CircuitBreaker per key (e.g. a host), created on first use with a
// shared config. Breakers are never removed; references stay valid for the
// set's lifetime.
class CircuitBreakerSet {
 public:
  CircuitBreakerSet(const CircuitBreakerConfig& config, Clock& clock);

  CircuitBreaker& For(const std::string& key);
  size_t size() const;

 private:
  const CircuitBreakerConfig config_;
  Clock& clock_;
  mutable Mutex mutex_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>, std::less<>> breakers_
      FL_GUARDED_BY(mutex_);
};

}  // namespace feilong
