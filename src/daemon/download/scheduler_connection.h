// SchedulerConnection: one download's AnnouncePeer stream to a scheduler.
//
// Open() tries the schedulers in the given order (rendezvous order for the
// task) until one accepts the stream within the connect deadline, and sends
// Register. A scheduler whose circuit breaker is open (it refused recent
// connections) is skipped without waiting, so when every scheduler is down
// downloads go to the origin at once, and a probe after the breaker's
// open_duration brings P2P back when one returns. Messages from the scheduler, and the end of the
// stream, are delivered to callbacks on the connection's reader thread.
//
// Thread rule: Send and Close are called by the owning conductor thread only.
#pragma once

#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/circuit_breaker.h"
#include "common/clock.h"
#include "common/status.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"

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

  // False if the stream is broken (the OnClosed callback tells why).
  bool Send(const scheduler::v1::AnnouncePeerRequest& request);
  // Ends the stream and joins the reader. Idempotent.
  void Close();

  const std::string& address() const { return address_; }

 private:
  SchedulerConnection() = default;
  void ReadLoop();

  std::string address_;
  std::unique_ptr<scheduler::v1::Scheduler::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<scheduler::v1::AnnouncePeerRequest,
                                           scheduler::v1::AnnouncePeerResponse>>
      stream_;
  OnMessage on_message_;
  OnClosed on_closed_;
  // How long Close() waits for the scheduler to end the stream.
  static constexpr std::chrono::seconds kCloseGrace{2};

  std::atomic<bool> closing_{false};
  bool closed_ = false;
  std::mutex reader_mutex_;
  std::condition_variable reader_cv_;
  bool reader_done_ = false;
  std::jthread reader_;
};

}  // namespace feilong::daemon
