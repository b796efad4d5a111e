#include "daemon/task_manager.h"

#include <vector>

#include "daemon/thread_name.h"

namespace feilong::daemon {

TaskManager::TaskManager(DownloadDeps deps) : deps_(std::move(deps)) {}

TaskManager::~TaskManager() { Stop(); }

Status TaskManager::Start(const DownloadRequestOptions& options, DownloadWaiter waiter) {
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
