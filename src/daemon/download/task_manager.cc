#include "daemon/download/task_manager.h"

#include <condition_variable>
#include <vector>

#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/transfer_pool.h"
#include "daemon/thread_name.h"
#include "source/url.h"

namespace feilong::daemon {

TaskManager::TaskManager(DownloadDeps deps) : deps_(std::move(deps)) {}

TaskManager::~TaskManager() { Stop(); }

bool TaskManager::IsPrivate(const std::string& task_id) {
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(task_id);
    if (it != running_.end() && it->second.download->private_task()) {
      return true;
    }
  }
  auto meta = deps_.store.GetTask(task_id);
  return meta.ok() && meta->private_task;
}

Status TaskManager::ProveAccess(const common::v1::TaskSpec& spec) {
  struct Outcome {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<Status> status;
  };
  auto outcome = std::make_shared<Outcome>();
  source::SourceRequest request;
  request.url = spec.url();
  request.stall_timeout = deps_.config.origin_stall_timeout;
  for (const auto& [name, value] : spec.request_headers()) {
    request.headers.emplace_back(name, value);
  }
  bool submitted = deps_.pool.Submit([outcome, request](TransferContext& ctx) {
    Status status;
    auto client = ctx.SourceFor(request.url);
    if (!client.ok()) {
      status = client.status();
    } else {
      status = (*client)->Probe(request).status();
    }
    std::lock_guard lock(outcome->mutex);
    outcome->status = std::move(status);
    outcome->done.notify_all();
  });
  if (!submitted) {
    return Status::Cancelled("daemon is shutting down");
  }
  // The probe has its own connect and stall deadlines; this is a backstop.
  auto limit = 2 * deps_.config.origin_stall_timeout + std::chrono::seconds(30);
  std::unique_lock lock(outcome->mutex);
  if (!outcome->done.wait_for(lock, limit, [&] { return outcome->status.has_value(); })) {
    return Status::DeadlineExceeded("checking access at the origin " +
                                    source::RedactUrl(spec.url()));
  }
  return outcome->status->WithContext("private task: access at the origin " +
                                      source::RedactUrl(spec.url()));
}

Status TaskManager::Start(DownloadRequestOptions options, DownloadWaiter waiter,
                          bool prove_access) {
  if (!options.access_proven && (options.private_task || IsPrivate(options.task_id))) {
    if (!prove_access) {
      return Status::PermissionDenied("task " + options.task_id +
                                      " is private: access must be proven at the origin");
    }
    Status proven = ProveAccess(options.spec);
    deps_.metrics.access_checks.WithLabels({proven.ok() ? "ok" : "denied"}).Increment();
    FL_RETURN_IF_ERROR(proven);
    options.access_proven = true;
  }
  std::lock_guard lock(mutex_);
  if (stopped_) {
    return Status::Cancelled("daemon is shutting down");
  }
  ReapLocked();
  auto it = running_.find(options.task_id);
  if (it != running_.end()) {
    if (it->second.download->Attach(waiter)) {
      return Status::Ok();
    }
    // It is ending: wait for it, then start afresh (the cache serves it).
    it->second.thread.join();
    running_.erase(it);
  }
  auto download = std::make_shared<Download>(deps_, options);
  download->Attach(std::move(waiter));
  Running entry;
  entry.download = download;
  entry.thread = std::jthread([download](std::stop_token stop) {
    SetThreadName("fl-download");
    download->Run(stop);
  });
  running_.emplace(options.task_id, std::move(entry));
  return Status::Ok();
}

bool TaskManager::IsRunning(const std::string& task_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(task_id);
  return it != running_.end() && !it->second.download->ended();
}

void TaskManager::Cancel(const std::string& task_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(task_id);
  if (it != running_.end()) {
    it->second.download->Cancel();
  }
}

void TaskManager::Stop() {
  std::map<std::string, Running> running;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    running.swap(running_);
  }
  for (auto& [id, entry] : running) {
    entry.thread.request_stop();
  }
  for (auto& [id, entry] : running) {
    if (entry.thread.joinable()) {
      entry.thread.join();
    }
  }
}

void TaskManager::ReapLocked() {
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second.download->ended()) {
      it->second.thread.join();
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace feilong::daemon
