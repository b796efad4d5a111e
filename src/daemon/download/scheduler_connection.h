// SchedulerConnection: one download's AnnouncePeer stream to a scheduler.
//
// Open() tries the schedulers in the given order (rendezvous order for the
// task) until one accepts the stream within the connect deadline, and sends
// Register. A scheduler whose circuit breaker is open (it refused recent
// connections) is skipped without waiting, so when every scheduler is down
// downloads go to the origin at once, and a probe after the breaker's
// open_duration brings P2P back when one returns. The stream runs on gRPC's
// callback API: no thread of its own. Messages from the scheduler, and the
// end of the stream, are delivered to callbacks on gRPC's threads.
//
// Thread rule: Open and Close block (the connect deadline, the close grace):
// call them off event loops. Send is thread-safe and never blocks: requests
// queue and go out one after another.
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

class BlockingPool;

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

class SchedulerConnection {
 public:
  using OnMessage = std::function<void(scheduler::v1::AnnouncePeerResponse)>;
  using OnClosed = std::function<void(Status)>;

  // Unavailable (naming every address tried) if no scheduler accepted.
  static Result<std::unique_ptr<SchedulerConnection>> Open(
      SchedulerChannels& channels, const std::vector<std::string>& ordered_addresses,
      const scheduler::v1::Register& registration, std::chrono::milliseconds connect_timeout,
      OnMessage on_message, OnClosed on_closed);

  ~SchedulerConnection();  // Close()
  SchedulerConnection(const SchedulerConnection&) = delete;
  SchedulerConnection& operator=(const SchedulerConnection&) = delete;

  // Queues `request`. False if the stream is broken or closing (the
  // OnClosed callback tells why it broke).
  bool Send(const scheduler::v1::AnnouncePeerRequest& request);
  // Ends the stream once everything queued went out, waits (up to a grace
  // period) for the scheduler to end it too, then cancels it. Idempotent.
  void Close();

  const std::string& address() const { return address_; }

 private:
  class Stream;
  SchedulerConnection(std::string address, std::unique_ptr<Stream> stream);

  std::string address_;
  std::unique_ptr<Stream> stream_;
  // How long Close() waits for the scheduler to end the stream.
  static constexpr std::chrono::seconds kCloseGrace{2};
};

// The daemon's SchedulerLink: SchedulerConnection::Open, which may wait up
// to the connect timeout per scheduler, runs on the BlockingPool, never on
// a download's strand; a stream is closed there too. Thread-safe.
class GrpcSchedulerLink final : public SchedulerLink {
 public:
  // `channels` and `pool` must outlive this object and every stream.
  GrpcSchedulerLink(SchedulerChannels& channels, BlockingPool& pool,
                    std::vector<std::string> addresses, std::chrono::milliseconds connect_timeout)
      : channels_(channels),
        pool_(pool),
        addresses_(std::move(addresses)),
        connect_timeout_(connect_timeout) {}

  void Open(const scheduler::v1::Register& registration, OnMessage on_message, OnClosed on_closed,
            OnOpened on_opened) override;

 private:
  SchedulerChannels& channels_;
  BlockingPool& pool_;
  const std::vector<std::string> addresses_;
  const std::chrono::milliseconds connect_timeout_;
};

}  // namespace feilong::daemon
