#include "daemon/download/task_manager.h"

#include <condition_variable>
#include <vector>

#include "daemon/daemon_config.h"
#include "daemon/daemon_metrics.h"
#include "daemon/download/download_events.h"
#include "daemon/download/transfers.h"
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
  auto mailbox = std::make_shared<conductor::Mailbox>();
  mailbox->deliver = [outcome](conductor::Event event) {
    if (auto* probed = std::get_if<conductor::ProbeResult>(&event)) {
      std::lock_guard lock(outcome->mutex);
      outcome->status = std::move(probed->status);
      outcome->done.notify_all();
    }
  };
  source::SourceRequest request;
  request.url = spec.url();
  request.stall_timeout = deps_.config.origin_stall_timeout;
  for (const auto& [name, value] : spec.request_headers()) {
    request.headers.emplace_back(name, value);
  }
  deps_.transfers.Probe(mailbox, std::move(request), nullptr);
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
  auto it = running_.find(options.task_id);
  if (it == running_.end()) {
    std::vector<DownloadWaiter> waiters;
    waiters.push_back(std::move(waiter));
    LaunchLocked(options, std::move(waiters));
    return Status::Ok();
  }
  if (!it->second.next.empty() || !it->second.download->Attach(waiter)) {
    it->second.next.emplace_back(std::move(options), std::move(waiter));
  }
  return Status::Ok();
}

void TaskManager::LaunchLocked(const DownloadRequestOptions& options,
                               std::vector<DownloadWaiter> waiters) {
  auto download = std::make_shared<Download>(deps_, options);
  for (auto& waiter : waiters) {
    download->Attach(std::move(waiter));
  }
  running_[options.task_id] = Running{download, {}};
  download->Start(
      [this, task_id = options.task_id, raw = download.get()] { OnEnded(task_id, raw); });
}

void TaskManager::OnEnded(const std::string& task_id, const Download* download) {
  std::vector<std::pair<DownloadRequestOptions, DownloadWaiter>> refused;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(task_id);
    if (it == running_.end() || it->second.download.get() != download) {
      return;
    }
    auto next = std::move(it->second.next);
    running_.erase(it);
    if (!next.empty() && !stopped_) {
      std::vector<DownloadWaiter> waiters;
      for (auto& [options, waiter] : next) {
        waiters.push_back(std::move(waiter));
      }
      LaunchLocked(next.front().first, std::move(waiters));
    } else {
      refused = std::move(next);
    }
    all_ended_.notify_all();
  }
  for (auto& [options, waiter] : refused) {
    DownloadProgress progress;
    progress.task_id = task_id;
    progress.done = true;
    progress.status = Status::Cancelled("daemon is shutting down");
    waiter.on_progress(progress);
  }
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
  std::unique_lock lock(mutex_);
  stopped_ = true;
  for (auto& [id, entry] : running_) {
    entry.download->Cancel();
  }
  all_ended_.wait(lock, [&] { return running_.empty(); });
}

}  // namespace feilong::daemon
