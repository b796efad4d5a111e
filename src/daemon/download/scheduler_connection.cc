#include "daemon/download/scheduler_connection.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "common/digest.h"
#include "daemon/thread_name.h"

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
    auto deadline = std::chrono::system_clock::now() + connect_timeout;
    if (!channel->WaitForConnected(deadline)) {
      breaker.RecordFailure();
      tried += (tried.empty() ? "" : ", ") + address;
      continue;
    }
    std::unique_ptr<SchedulerConnection> conn(new SchedulerConnection());
    conn->address_ = address;
    conn->stub_ = sv1::Scheduler::NewStub(channel);
    conn->stream_ = conn->stub_->AnnouncePeer(&conn->context_);
    sv1::AnnouncePeerRequest request;
    *request.mutable_register_() = registration;
    if (!conn->stream_->Write(request)) {
      conn->context_.TryCancel();
      conn->stream_->Finish().ok();
      conn->stream_.reset();
      breaker.RecordFailure();
      tried += (tried.empty() ? "" : ", ") + address;
      continue;
    }
    breaker.RecordSuccess();
    conn->on_message_ = std::move(on_message);
    conn->on_closed_ = std::move(on_closed);
    conn->reader_ = std::jthread([c = conn.get()] {
      SetThreadName("fl-sched-read");
      c->ReadLoop();
    });
    return conn;
  }
  return Status::Unavailable("no scheduler reachable (tried " + tried + ")");
}

SchedulerConnection::~SchedulerConnection() { Close(); }

bool SchedulerConnection::Send(const sv1::AnnouncePeerRequest& request) {
  if (closed_ || !stream_) {
    return false;
  }
  return stream_->Write(request);
}

void SchedulerConnection::Close() {
  if (closed_ || !stream_) {
    return;
  }
  closed_ = true;
  closing_ = true;
  stream_->WritesDone();
  // The scheduler ends the stream once it has read everything we sent;
  // cancelling at once could drop our last reports. Cancel only if it does
  // not end the stream in time.
  {
    std::unique_lock lock(reader_mutex_);
    if (!reader_cv_.wait_for(lock, kCloseGrace, [&] { return reader_done_; })) {
      context_.TryCancel();
    }
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

void SchedulerConnection::ReadLoop() {
  sv1::AnnouncePeerResponse response;
  while (stream_->Read(&response)) {
    on_message_(std::move(response));
    response.Clear();
  }
  grpc::Status status = stream_->Finish();
  {
    std::lock_guard lock(reader_mutex_);
    reader_done_ = true;
  }
  reader_cv_.notify_all();
  if (closing_) {
    return;
  }
  on_closed_(status.ok()
                 ? Status::Unavailable("scheduler " + address_ + " ended the stream")
                 : Status::Unavailable("scheduler " + address_ + ": " + status.error_message()));
}

}  // namespace feilong::daemon
