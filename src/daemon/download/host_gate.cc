#include "daemon/download/host_gate.h"

#include <fmt/format.h>

#include "source/url.h"

namespace feilong::daemon {

bool CountsAgainstHost(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kCorruption:
      return true;
    default:
      return false;
  }
}

HostGate::Pass::~Pass() { gate_.Release(host_); }

void HostGate::Pass::Finish(const Status& status) {
  if (finished_) {
    return;
  }
  finished_ = true;
  if (status.ok()) {
    breaker_.RecordSuccess();
  } else if (CountsAgainstHost(status)) {
    breaker_.RecordFailure();
  }
}

HostGate::HostGate(HostGateConfig config, Clock& clock)
    : config_(std::move(config)), breakers_(config_.breaker, clock) {}

Result<std::unique_ptr<HostGate::Pass>> HostGate::TryEnter(const std::string& host) {
  MutexLock lock(mutex_);
  uint32_t& in_flight = in_flight_[host];
  if (config_.max_in_flight_per_host != 0 && in_flight >= config_.max_in_flight_per_host) {
    return Status::ResourceExhausted(
        fmt::format("{} {} has {} requests in flight (the cap)", config_.kind, host, in_flight));
  }
  CircuitBreaker& breaker = breakers_.For(host);
  if (!breaker.Allow()) {
    return Status::Unavailable(
        fmt::format("{} {} is failing; its circuit breaker is open", config_.kind, host));
  }
  ++in_flight;
  return std::unique_ptr<Pass>(new Pass(*this, host, breaker));
}

bool HostGate::IsOpen(const std::string& host) const {
  return breakers_.For(host).state() == CircuitBreaker::State::kOpen;
}

uint32_t HostGate::InFlight(const std::string& host) const {
  MutexLock lock(mutex_);
  auto it = in_flight_.find(host);
  return it == in_flight_.end() ? 0 : it->second;
}

void HostGate::WhenFree(const std::string& host, std::function<void()> wake) {
  MutexLock lock(mutex_);
  waiting_[host].push_back(std::move(wake));
}

void HostGate::Release(const std::string& host) {
  std::vector<std::function<void()>> wake;
  {
    MutexLock lock(mutex_);
    auto it = in_flight_.find(host);
    if (it != in_flight_.end() && it->second > 0) {
      --it->second;
    }
    auto waiting = waiting_.find(host);
    if (waiting != waiting_.end()) {
      wake = std::move(waiting->second);
      waiting_.erase(waiting);
    }
  }
  for (auto& w : wake) {
    w();
  }
}

std::string OriginHostKey(const std::string& url) {
  auto parsed = source::ParseUrl(url);
  if (!parsed.ok()) {
    return "";
  }
  uint16_t port = parsed->port.value_or(parsed->scheme == "https" ? 443 : 80);
  return fmt::format("{}:{}", parsed->host, port);
}

}  // namespace feilong::daemon
