#include "common/circuit_breaker.h"

#include <algorithm>

namespace feilong {

namespace {

CircuitBreakerConfig Normalized(CircuitBreakerConfig config) {
  config.consecutive_failures = std::max<uint32_t>(config.consecutive_failures, 1);
  config.half_open_probes = std::max<uint32_t>(config.half_open_probes, 1);
  return config;
}

}  // namespace

CircuitBreaker::CircuitBreaker(const CircuitBreakerConfig& config, Clock& clock)
    : config_(Normalized(config)), clock_(clock) {}

bool CircuitBreaker::Allow() {
  MutexLock lock(mutex_);
  Clock::TimePoint now = clock_.Now();
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (now - opened_at_ < config_.open_duration) {
        return false;
      }
      state_ = State::kHalfOpen;
      probes_ = 0;
      round_started_ = now;
      break;
    case State::kHalfOpen:
      if (now - round_started_ >= config_.open_duration) {
        // No probe outcome in a whole round: start a new one.
        probes_ = 0;
        round_started_ = now;
      }
      break;
  }
  if (probes_ >= config_.half_open_probes) {
    return false;
  }
  ++probes_;
  return true;
}

void CircuitBreaker::RecordSuccess() {
  MutexLock lock(mutex_);
  switch (state_) {
    case State::kClosed:
      failures_ = 0;
      break;
    case State::kHalfOpen:
      state_ = State::kClosed;
      failures_ = 0;
      break;
    case State::kOpen:
      break;
  }
}

void CircuitBreaker::RecordFailure() {
  MutexLock lock(mutex_);
  switch (state_) {
    case State::kClosed:
      if (++failures_ >= config_.consecutive_failures) {
        state_ = State::kOpen;
        opened_at_ = clock_.Now();
      }
      break;
    case State::kHalfOpen:
      state_ = State::kOpen;
      opened_at_ = clock_.Now();
      break;
    case State::kOpen:
      break;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  MutexLock lock(mutex_);
  if (state_ == State::kOpen && clock_.Now() - opened_at_ >= config_.open_duration) {
    return State::kHalfOpen;
  }
  return state_;
}

std::string_view CircuitStateName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

CircuitBreakerSet::CircuitBreakerSet(const CircuitBreakerConfig& config, Clock& clock)
    : config_(config), clock_(clock) {}

CircuitBreaker& CircuitBreakerSet::For(const std::string& key) {
  MutexLock lock(mutex_);
  auto it = breakers_.find(key);
  if (it == breakers_.end()) {
    it = breakers_.emplace(key, std::make_unique<CircuitBreaker>(config_, clock_)).first;
  }
  return *it->second;
}

size_t CircuitBreakerSet::size() const {
  MutexLock lock(mutex_);
  return breakers_.size();
}

}  // namespace feilong
