#include "daemon/download/scheduler_connection.h"

#include <fmt/format.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>

#include "common/digest.h"
#include "common/mutex.h"
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

// One AnnouncePeer call on gRPC's callback API. It keeps itself alive from
// Start until gRPC ends it (OnDone), so whoever drops it never waits.
// Requests queue in `queue_` and are written one at a time (gRPC allows
// one write in flight); a read is always pending. Reactions may run inline
// from a Start* call made under the mutex, hence recursive; callbacks are
// called outside it.
class AnnounceCall final
    : public grpc::ClientBidiReactor<sv1::AnnouncePeerRequest, sv1::AnnouncePeerResponse>,
      public std::enable_shared_from_this<AnnounceCall> {
 public:
  using OnMessage = SchedulerLink::OnMessage;
  using OnClosed = SchedulerLink::OnClosed;
  // Once: Ok when the first request went out, else why not.
  using OnOpen = std::function<void(Status)>;

  AnnounceCall(std::string address, GrpcSchedulerLink::Calls& calls, OnMessage on_message,
               OnClosed on_closed)
      : address_(std::move(address)),
        calls_(calls),
        on_message_(std::move(on_message)),
        on_closed_(std::move(on_closed)) {}

  // Starts the call with `first` as its first write. It waits for the
  // channel to connect (wait_for_ready), but no longer than
  // `connect_timeout`: then it is cancelled and on_open gets
  // DeadlineExceeded.
  void Start(const std::shared_ptr<grpc::Channel>& channel, sv1::AnnouncePeerRequest first,
             std::chrono::milliseconds connect_timeout, OnOpen on_open);

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

  // Ends the call once what is queued went out; cancels it if the scheduler
  // has not ended it `grace` later. Never blocks.
  void Close(std::chrono::milliseconds grace) {
    {
      std::lock_guard lock(mutex_);
      if (closing_ || over_) {
        return;
      }
      closing_ = true;
      if (!writing_ && !broken_) {
        StartWritesDone();
        writes_done_ = true;
      }
    }
    CancelAt(grace_alarm_, std::chrono::system_clock::now() + grace, false);
  }

  // Cancels the call unless it is closing (its grace alarm ends it then);
  // its end is reported as usual (on_open: Cancelled).
  void CancelUnlessClosing() {
    {
      std::lock_guard lock(mutex_);
      if (closing_) {
        return;
      }
    }
    context_.TryCancel();
  }

  const std::string& address() const { return address_; }

  void OnWriteDone(bool ok) override {
    OnOpen opened;
    {
      std::lock_guard lock(mutex_);
      writing_ = false;
      if (!ok) {
        // The stream broke; the read fails too and OnDone tells why.
        broken_ = true;
        queue_.clear();
        return;
      }
      queue_.pop_front();
      if (on_open_) {
        opened = std::move(on_open_);
        on_open_ = nullptr;
      }
      if (!queue_.empty()) {
        StartNextWrite();
      } else if (closing_ && !writes_done_ && !over_) {
        StartWritesDone();
        writes_done_ = true;
      }
    }
    if (opened) {
      opened(Status::Ok());
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

  void OnDone(const grpc::Status& status) override;

 private:
  // REQUIRES: mutex_ held, !writing_, !queue_.empty().
  void StartNextWrite() {
    writing_ = true;
    StartWrite(&queue_.front());
  }
  // At `when`: cancels the call if it has not ended by then, or with
  // `only_while_opening`, if its first write has not gone out by then.
  void CancelAt(grpc::Alarm& alarm, std::chrono::system_clock::time_point when,
                bool only_while_opening);
  void OnAlarm(bool only_while_opening) {
    {
      std::lock_guard lock(mutex_);
      if (on_open_) {
        timed_out_ = true;
      } else if (only_while_opening) {
        return;
      }
    }
    context_.TryCancel();
  }

  // Why the call ended before its first write went out.
  // REQUIRES: mutex_ held.
  Status OpenFailure(const grpc::Status& status) const {
    if (timed_out_) {
      return Status::DeadlineExceeded(
          fmt::format("scheduler {}: no answer within {} ms", address_, connect_timeout_.count()));
    }
    if (status.error_code() == grpc::StatusCode::CANCELLED) {
      return Status::Cancelled("scheduler " + address_ + ": the daemon is stopping");
    }
    return Status::Unavailable("scheduler " + address_ + ": " + status.error_message());
  }

  const std::string address_;
  GrpcSchedulerLink::Calls& calls_;
  OnMessage on_message_;
  OnClosed on_closed_;
  std::unique_ptr<sv1::Scheduler::Stub> stub_;
  grpc::ClientContext context_;
  sv1::AnnouncePeerResponse response_;  // touched only by read reactions
  grpc::Alarm connect_alarm_;
  grpc::Alarm grace_alarm_;
  std::chrono::milliseconds connect_timeout_{0};
  // Holds this object from Start until OnDone.
  std::shared_ptr<AnnounceCall> self_;

  std::recursive_mutex mutex_;
  OnOpen on_open_;                              // until the first write went out
  std::deque<sv1::AnnouncePeerRequest> queue_;  // front() is being written while writing_
  bool writing_ = false;
  bool broken_ = false;
  bool closing_ = false;
  bool writes_done_ = false;
  bool timed_out_ = false;
  bool over_ = false;  // OnDone began: the call takes no more operations
};

// The calls alive, so that Stop can end them before what they use goes away.
class GrpcSchedulerLink::Calls {
 public:
  // False once stopped: the call must not start.
  bool Add(const std::shared_ptr<AnnounceCall>& call) {
    MutexLock lock(mutex_);
    if (stopped_) {
      return false;
    }
    live_[call.get()] = call;
    return true;
  }
  void Remove(AnnounceCall* call) {
    MutexLock lock(mutex_);
    live_.erase(call);
    ended_.notify_all();
  }
  // An alarm was set; AlarmDone when its callback has run (fired or
  // cancelled). Stop waits for those too: gRPC frees an alarm's state on
  // its own thread, which must be over before the process exits (an alarm
  // cancelled right before exit was freed twice under ASan).
  void AlarmSet() {
    MutexLock lock(mutex_);
    ++alarms_;
  }
  void AlarmDone() {
    MutexLock lock(mutex_);
    --alarms_;
    ended_.notify_all();
  }
  // Cancels every call not closing (a closing one ends by its grace alarm)
  // and waits until none is alive.
  void StopAndWait() {
    std::vector<std::shared_ptr<AnnounceCall>> alive;
    {
      MutexLock lock(mutex_);
      stopped_ = true;
      for (auto& [key, weak] : live_) {
        if (auto call = weak.lock()) {
          alive.push_back(std::move(call));
        }
      }
    }
    for (auto& call : alive) {
      call->CancelUnlessClosing();
    }
    alive.clear();
    MutexLock lock(mutex_);
    while (!live_.empty() || alarms_ > 0) {
      ended_.wait(mutex_);
    }
  }

 private:
  Mutex mutex_;
  std::condition_variable_any ended_;
  bool stopped_ FL_GUARDED_BY(mutex_) = false;
  uint32_t alarms_ FL_GUARDED_BY(mutex_) = 0;
  std::map<AnnounceCall*, std::weak_ptr<AnnounceCall>> live_ FL_GUARDED_BY(mutex_);
};

void AnnounceCall::CancelAt(grpc::Alarm& alarm, std::chrono::system_clock::time_point when,
                            bool only_while_opening) {
  calls_.AlarmSet();
  // The callback runs once, fired or cancelled, and may come after this
  // object is gone (a destroyed alarm is cancelled); Calls outlives it.
  alarm.Set(when, [weak = weak_from_this(), calls = &calls_, only_while_opening](bool fired) {
    if (auto self = weak.lock(); self && fired) {
      self->OnAlarm(only_while_opening);
    }
    calls->AlarmDone();
  });
}

void AnnounceCall::Start(const std::shared_ptr<grpc::Channel>& channel,
                         sv1::AnnouncePeerRequest first, std::chrono::milliseconds connect_timeout,
                         OnOpen on_open) {
  if (!calls_.Add(shared_from_this())) {
    on_open(Status::Cancelled("scheduler " + address_ + ": the daemon is stopping"));
    return;
  }
  self_ = shared_from_this();
  connect_timeout_ = connect_timeout;
  on_open_ = std::move(on_open);
  // Like WaitForConnected: a scheduler that is restarting gets the connect
  // timeout to come back, not a failure at the first refused connection.
  context_.set_wait_for_ready(true);
  stub_ = sv1::Scheduler::NewStub(channel);
  stub_->async()->AnnouncePeer(&context_, this);
  CancelAt(connect_alarm_, std::chrono::system_clock::now() + connect_timeout, true);
  StartRead(&response_);
  Send(std::move(first));
  StartCall();
}

void AnnounceCall::OnDone(const grpc::Status& status) {
  OnOpen failed_open;
  Status open_failure;
  bool report_close;
  {
    // From here no operation may be started on the call: a Close racing
    // with the callbacks below must not start WritesDone.
    std::lock_guard lock(mutex_);
    over_ = true;
    if (on_open_) {
      failed_open = std::move(on_open_);
      on_open_ = nullptr;
      open_failure = OpenFailure(status);
    }
    report_close = !failed_open && !closing_;
  }
  if (failed_open) {
    failed_open(open_failure);
  } else if (report_close) {
    on_closed_(status.ok()
                   ? Status::Unavailable("scheduler " + address_ + " ended the stream")
                   : Status::Unavailable("scheduler " + address_ + ": " + status.error_message()));
  }
  calls_.Remove(this);
  // The last reference may be this one: nothing after it.
  std::shared_ptr<AnnounceCall> last = std::move(self_);
}

namespace {

// What a download holds: dropping it closes the call, without waiting.
class GrpcSchedulerStream final : public SchedulerStream {
 public:
  explicit GrpcSchedulerStream(std::shared_ptr<AnnounceCall> call) : call_(std::move(call)) {}
  ~GrpcSchedulerStream() override { call_->Close(GrpcSchedulerLink::kCloseGrace); }
  bool Send(const sv1::AnnouncePeerRequest& request) override { return call_->Send(request); }
  const std::string& address() const override { return call_->address(); }

 private:
  std::shared_ptr<AnnounceCall> call_;
};

}  // namespace

// One Open: tries the ranked addresses one after another, each from the
// end of the call before it (a callback), so nothing waits.
struct GrpcSchedulerLink::Attempt : std::enable_shared_from_this<Attempt> {
  GrpcSchedulerLink& link;
  std::vector<std::string> addresses;
  size_t next = 0;
  std::string tried;
  sv1::AnnouncePeerRequest first;
  OnMessage on_message;
  OnClosed on_closed;
  OnOpened on_opened;

  Attempt(GrpcSchedulerLink& link, std::vector<std::string> addresses,
          sv1::AnnouncePeerRequest first, OnMessage on_message, OnClosed on_closed,
          OnOpened on_opened)
      : link(link),
        addresses(std::move(addresses)),
        first(std::move(first)),
        on_message(std::move(on_message)),
        on_closed(std::move(on_closed)),
        on_opened(std::move(on_opened)) {}

  void TryNext() {
    while (next < addresses.size()) {
      const std::string& address = addresses[next++];
      CircuitBreaker& breaker = link.channels_.Breaker(address);
      if (!breaker.Allow()) {
        Tried(address + " (circuit open)");
        continue;
      }
      auto call = std::make_shared<AnnounceCall>(address, *link.calls_, on_message, on_closed);
      call->Start(link.channels_.Get(address), first, link.connect_timeout_,
                  [self = shared_from_this(), call, &breaker](Status status) {
                    self->OnCallOpen(call, breaker, status);
                  });
      return;
    }
    on_opened(Status::Unavailable("no scheduler reachable (tried " + tried + ")"));
  }

  void OnCallOpen(const std::shared_ptr<AnnounceCall>& call, CircuitBreaker& breaker,
                  const Status& status) {
    if (status.ok()) {
      breaker.RecordSuccess();
      on_opened(std::shared_ptr<SchedulerStream>(std::make_shared<GrpcSchedulerStream>(call)));
      return;
    }
    if (status.code() == StatusCode::kCancelled) {
      on_opened(status);  // the daemon is stopping: no other scheduler either
      return;
    }
    breaker.RecordFailure();
    Tried(call->address());
    TryNext();
  }

  void Tried(const std::string& what) { tried += (tried.empty() ? "" : ", ") + what; }
};

GrpcSchedulerLink::GrpcSchedulerLink(SchedulerChannels& channels,
                                     std::vector<std::string> addresses,
                                     std::chrono::milliseconds connect_timeout)
    : channels_(channels),
      addresses_(std::move(addresses)),
      connect_timeout_(connect_timeout),
      calls_(std::make_unique<Calls>()) {}

GrpcSchedulerLink::~GrpcSchedulerLink() { Stop(); }

void GrpcSchedulerLink::Open(const sv1::Register& registration, OnMessage on_message,
                             OnClosed on_closed, OnOpened on_opened) {
  sv1::AnnouncePeerRequest first;
  *first.mutable_register_() = registration;
  auto attempt = std::make_shared<Attempt>(
      *this, RankSchedulers(addresses_, registration.task_id()), std::move(first),
      std::move(on_message), std::move(on_closed), std::move(on_opened));
  attempt->TryNext();
}

void GrpcSchedulerLink::Stop() { calls_->StopAndWait(); }

}  // namespace feilong::daemon
