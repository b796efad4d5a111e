#include "daemon/download/scheduler_connection.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>

#include "common/digest.h"
#include "daemon/download/blocking_pool.h"
#include "feilong/scheduler/v1/scheduler.grpc.pb.h"

namespace feilong::daemon {

namespace sv1 = feilong::scheduler::v1;

std::vector<std::string> RankSchedulers(const std::vector<std::string>& addresses,
                                        const std::string& task_id) {
  std::vector<std::pair<std::string, std::string>> scored;
  for (const auto& address : addresses) {
    scored.emplace_back(HexEncode(Sha256(address + "/" + task_id)), address);
  }
  std::sort(scored.begin(), scored.end(), std::greater<>());
  std::vector<std::string> ranked;
  for (auto& [score, address] : scored) {
    ranked.push_back(address);
  }
  return ranked;
}

void SchedulerChannels::SetCredentials(std::shared_ptr<grpc::ChannelCredentials> credentials) {
  std::lock_guard lock(mutex_);
  credentials_ = std::move(credentials);
}

std::shared_ptr<grpc::Channel> SchedulerChannels::Get(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& channel = channels_[address];
  if (!channel) {
    grpc::ChannelArguments args;
    // Reconnect quickly after a scheduler restarts.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    channel = grpc::CreateCustomChannel(address, credentials_, args);
  }
  return channel;
}

// The AnnouncePeer call on gRPC's callback API. Requests queue in `queue_`
// and are written one at a time (gRPC allows one write in flight); a read is
// always pending. Reactions may run inline from a Start* call made under
// the mutex, hence recursive.
class SchedulerConnection::Stream final
    : public grpc::ClientBidiReactor<sv1::AnnouncePeerRequest, sv1::AnnouncePeerResponse> {
 public:
  Stream(std::string address, OnMessage on_message, OnClosed on_closed)
      : address_(std::move(address)),
        on_message_(std::move(on_message)),
        on_closed_(std::move(on_closed)) {}

  void Start(const std::shared_ptr<grpc::Channel>& channel, sv1::AnnouncePeerRequest first) {
    stub_ = sv1::Scheduler::NewStub(channel);
    stub_->async()->AnnouncePeer(&context_, this);
    StartRead(&response_);
    Send(std::move(first));
    StartCall();
  }

  bool Send(sv1::AnnouncePeerRequest request) {
    std::lock_guard lock(mutex_);
    if (broken_ || closing_ || over_) {
      return false;
    }
    queue_.push_back(std::move(request));
    if (!writing_) {
      StartNextWrite();
    }
    return true;
  }

  // Waits until the first request went out (true) or the stream failed
  // (false), up to `deadline`.
  bool WaitFirstWrite(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] {
      return first_written_ || broken_ || done_;
    }) && first_written_;
  }

  // Ends the stream after what is queued; waits up to `grace` for the
  // scheduler to end it, then cancels, and waits for the end.
  void Close(std::chrono::milliseconds grace) {
    std::unique_lock lock(mutex_);
    if (!closing_) {
      closing_ = true;
      if (!writing_ && !broken_ && !over_) {
        StartWritesDone();
        writes_done_ = true;
      }
    }
    if (!changed_.wait_for(lock, grace, [&] { return done_; })) {
      context_.TryCancel();
      changed_.wait(lock, [&] { return done_; });
    }
  }

  void Cancel() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    context_.TryCancel();
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return done_; });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      // The stream broke; the read fails too and OnDone tells why.
      broken_ = true;
      queue_.clear();
      changed_.notify_all();
      return;
    }
    queue_.pop_front();
    if (!first_written_) {
      first_written_ = true;
      changed_.notify_all();
    }
    if (!queue_.empty()) {
      StartNextWrite();
    } else if (closing_ && !writes_done_ && !over_) {
      StartWritesDone();
      writes_done_ = true;
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      return;  // the stream ended; OnDone follows
    }
    on_message_(std::move(response_));
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    bool report;
    {
      // From here no operation may be started on the call: a Close racing
      // with the callback below must not start WritesDone.
      std::lock_guard lock(mutex_);
      over_ = true;
      report = !closing_;
    }
    if (report) {
      on_closed_(status.ok() ? Status::Unavailable("scheduler " + address_ + " ended the stream")
                             : Status::Unavailable("scheduler " + address_ + ": " +
                                                   status.error_message()));
    }
    // The owner may destroy this object as soon as it sees done_: nothing
    // after the unlock.
    std::lock_guard lock(mutex_);
    done_ = true;
    changed_.notify_all();
  }

 private:
  // REQUIRES: mutex_ held, !writing_, !queue_.empty().
  void StartNextWrite() {
    writing_ = true;
    StartWrite(&queue_.front());
  }

  const std::string address_;
  OnMessage on_message_;
  OnClosed on_closed_;
  std::unique_ptr<sv1::Scheduler::Stub> stub_;
  grpc::ClientContext context_;
  sv1::AnnouncePeerResponse response_;  // touched only by read reactions

  std::recursive_mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<sv1::AnnouncePeerRequest> queue_;  // front() is being written while writing_
  bool writing_ = false;
  bool first_written_ = false;
  bool broken_ = false;
  bool closing_ = false;
  bool writes_done_ = false;
  bool over_ = false;  // OnDone began: the call takes no more operations
  bool done_ = false;  // OnDone ended: this object may be destroyed
};

Result<std::unique_ptr<SchedulerConnection>> SchedulerConnection::Open(
    SchedulerChannels& channels, const std::vector<std::string>& ordered_addresses,
    const sv1::Register& registration, std::chrono::milliseconds connect_timeout,
    OnMessage on_message, OnClosed on_closed) {
  std::string tried;
  for (const auto& address : ordered_addresses) {
    CircuitBreaker& breaker = channels.Breaker(address);
    if (!breaker.Allow()) {
      tried += (tried.empty() ? "" : ", ") + address + " (circuit open)";
      continue;
    }
    auto channel = channels.Get(address);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + connect_timeout)) {
      breaker.RecordFailure();
      tried += (tried.empty() ? "" : ", ") + address;
      continue;
    }
    auto stream = std::make_unique<Stream>(address, on_message, on_closed);
    sv1::AnnouncePeerRequest request;
    *request.mutable_register_() = registration;
    stream->Start(channel, std::move(request));
    if (!stream->WaitFirstWrite(std::chrono::steady_clock::now() + connect_timeout)) {
      stream->Cancel();
      breaker.RecordFailure();
      tried += (tried.empty() ? "" : ", ") + address;
      continue;
    }
    breaker.RecordSuccess();
    return std::unique_ptr<SchedulerConnection>(
        new SchedulerConnection(address, std::move(stream)));
  }
  return Status::Unavailable("no scheduler reachable (tried " + tried + ")");
}

SchedulerConnection::SchedulerConnection(std::string address, std::unique_ptr<Stream> stream)
    : address_(std::move(address)), stream_(std::move(stream)) {}

SchedulerConnection::~SchedulerConnection() { Close(); }

bool SchedulerConnection::Send(const sv1::AnnouncePeerRequest& request) {
  return stream_->Send(request);
}

void SchedulerConnection::Close() { stream_->Close(kCloseGrace); }

namespace {

// Closes its connection on the pool when dropped: Close waits (bounded) for
// the scheduler to end the stream. If the pool is stopping, the dropped
// job's last reference closes it in the caller.
class PooledStream final : public SchedulerStream {
 public:
  PooledStream(std::shared_ptr<SchedulerConnection> connection, BlockingPool& pool)
      : connection_(std::move(connection)), pool_(pool) {}
  ~PooledStream() override {
    (void)pool_.Submit([connection = std::move(connection_)] { connection->Close(); });
  }
  bool Send(const sv1::AnnouncePeerRequest& request) override { return connection_->Send(request); }
  const std::string& address() const override { return connection_->address(); }

 private:
  std::shared_ptr<SchedulerConnection> connection_;
  BlockingPool& pool_;
};

}  // namespace

void GrpcSchedulerLink::Open(const sv1::Register& registration, OnMessage on_message,
                             OnClosed on_closed, OnOpened on_opened) {
  auto open = [this, registration, on_message, on_closed, on_opened] {
    auto connection =
        SchedulerConnection::Open(channels_, RankSchedulers(addresses_, registration.task_id()),
                                  registration, connect_timeout_, on_message, on_closed);
    if (!connection.ok()) {
      on_opened(connection.status());
      return;
    }
    on_opened(std::shared_ptr<SchedulerStream>(std::make_shared<PooledStream>(
        std::shared_ptr<SchedulerConnection>(std::move(connection).value()), pool_)));
  };
  if (!pool_.Submit(std::move(open))) {
    on_opened(Status::Cancelled("the daemon is stopping"));
  }
}

}  // namespace feilong::daemon
