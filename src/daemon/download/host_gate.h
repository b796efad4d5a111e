// HostGate: the daemon's guard in front of the remote hosts it fetches from
// (origin hosts, parent peers), shared by every download of the daemon.
//
// Per host it keeps a circuit breaker (stop calling a host that keeps
// failing, probe it again later) and, optionally, a cap on requests in
// flight (so many downloads of one daemon cannot pile onto one origin).
//
//   auto pass = gate.TryEnter("origin.example:443");
//   if (!pass.ok()) { /* ResourceExhausted: at the cap, try later;
//                        Unavailable: circuit open, count as a failure */ }
//   Status s = Fetch();
//   (*pass)->Finish(s);   // or let it go out of scope: slot freed, no verdict
//
// Which failures count against a host: Unavailable, DeadlineExceeded and
// Corruption (a peer serving bad bytes). NotFound, PermissionDenied,
// Cancelled and local disk errors say nothing about the host's health.
//
// Thread rule: thread-safe; a Pass may be finished or destroyed on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/circuit_breaker.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"

namespace feilong::daemon {

struct HostGateConfig {
  CircuitBreakerConfig breaker;
  // Requests in flight per host; 0 means no cap.
  uint32_t max_in_flight_per_host = 0;
  // Used in messages: "origin" or "parent".
  std::string kind = "host";
};

// True for the statuses that count as the host's failure (see above).
bool CountsAgainstHost(const Status& status);

class HostGate {
 public:
  // A slot in front of one host. Finish records the outcome in the host's
  // circuit breaker; destruction frees the slot.
  class Pass {
   public:
    ~Pass();
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

    // Records the outcome once; later calls are ignored.
    void Finish(const Status& status);

   private:
    friend class HostGate;
    Pass(HostGate& gate, std::string host, CircuitBreaker& breaker)
        : gate_(gate), host_(std::move(host)), breaker_(breaker) {}

    HostGate& gate_;
    std::string host_;
    CircuitBreaker& breaker_;
    bool finished_ = false;
  };

  HostGate(HostGateConfig config, Clock& clock);
  HostGate(const HostGate&) = delete;
  HostGate& operator=(const HostGate&) = delete;

  // A pass for `host`, or ResourceExhausted when the host is at its cap, or
  // Unavailable when its circuit is open (the message names the host).
  // REQUIRES: every Pass is destroyed before the gate.
  Result<std::unique_ptr<Pass>> TryEnter(const std::string& host);

  // Calls `wake` once, the next time a pass for `host` is released (from
  // that thread, outside the gate's lock; it must not block): how a caller
  // refused at the cap learns when to try again without polling. Every
  // caller waiting for the host is woken; those that lose the race ask again.
  void WhenFree(const std::string& host, std::function<void()> wake);

  // True while the host's circuit is open (calls would be refused).
  bool IsOpen(const std::string& host) const;
  uint32_t InFlight(const std::string& host) const;

 private:
  void Release(const std::string& host) FL_EXCLUDES(mutex_);

  const HostGateConfig config_;
  mutable CircuitBreakerSet breakers_;
  mutable Mutex mutex_;
  std::map<std::string, uint32_t, std::less<>> in_flight_ FL_GUARDED_BY(mutex_);
  std::map<std::string, std::vector<std::function<void()>>, std::less<>> waiting_
      FL_GUARDED_BY(mutex_);
};

// "host:port" of an origin URL (the scheme's default port filled in), the
// key origins are guarded by; "" if the URL does not parse.
std::string OriginHostKey(const std::string& url);

}  // namespace feilong::daemon
