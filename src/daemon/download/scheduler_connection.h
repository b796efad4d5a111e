// The daemon's SchedulerLink over gRPC: one download's AnnouncePeer stream
// to a scheduler, on gRPC's callback API. No thread waits for a stream:
// opening, running and closing one are callbacks and gRPC alarms.
//
// Open tries the schedulers in rendezvous order for the task until one takes
// the stream (its Register went out) within the connect timeout; a
// scheduler that does not is cancelled and the next one tried. A scheduler
// whose circuit breaker is open (it failed recent opens) is skipped without
// waiting, so when every scheduler is down downloads go to the origin at
// once, and a probe after the breaker's open_duration brings P2P back when
// one returns. Dropping a stream ends it once what was sent has gone out;
// a scheduler that does not end it within a grace period is cancelled.
//
// Thread rule: thread-safe. Callbacks run on gRPC's threads; they must not
// block.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/circuit_breaker.h"
#include "common/clock.h"
#include "common/status.h"
#include "daemon/download/scheduler_link.h"

namespace feilong::daemon {

// Orders scheduler addresses for a task by rendezvous hashing of the task
// id: every daemon picks the same first scheduler for the same task, and
// removing one scheduler only moves that scheduler's tasks.
std::vector<std::string> RankSchedulers(const std::vector<std::string>& addresses,
                                        const std::string& task_id);

// Keeps one gRPC channel and one circuit breaker per scheduler address.
// Thread-safe.
class SchedulerChannels {
 public:
  explicit SchedulerChannels(const CircuitBreakerConfig& breaker = {},
                             Clock& clock = SteadyClock::Default())
      : breakers_(breaker, clock) {}

  // Credentials of the channels made from now on (default: plaintext).
  void SetCredentials(std::shared_ptr<grpc::ChannelCredentials> credentials);
  std::shared_ptr<grpc::Channel> Get(const std::string& address);
  CircuitBreaker& Breaker(const std::string& address) { return breakers_.For(address); }

 private:
  CircuitBreakerSet breakers_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_ = grpc::InsecureChannelCredentials();
};

class GrpcSchedulerLink final : public SchedulerLink {
 public:
  // `channels` must outlive this object.
  GrpcSchedulerLink(SchedulerChannels& channels, std::vector<std::string> addresses,
                    std::chrono::milliseconds connect_timeout);
  ~GrpcSchedulerLink() override;  // Stop()
  GrpcSchedulerLink(const GrpcSchedulerLink&) = delete;
  GrpcSchedulerLink& operator=(const GrpcSchedulerLink&) = delete;

  void Open(const scheduler::v1::Register& registration, OnMessage on_message, OnClosed on_closed,
            OnOpened on_opened) override;

  // Cancels the streams being opened (their on_opened gets Cancelled),
  // lets closing streams end (each within its grace period), cancels the
  // rest, and waits until gRPC has ended every one. Afterwards Open reports
  // Cancelled. Blocks: for shutdown. Idempotent.
  void Stop();

  // How long a dropped stream may wait for the scheduler to end it.
  static constexpr std::chrono::seconds kCloseGrace{2};

  class Calls;  // the streams alive (scheduler_connection.cc)

 private:
  struct Attempt;

  SchedulerChannels& channels_;
  const std::vector<std::string> addresses_;
  const std::chrono::milliseconds connect_timeout_;
  std::unique_ptr<Calls> calls_;
};

}  // namespace feilong::daemon
