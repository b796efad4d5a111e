// TaskManager: starts downloads, joins callers asking for the same task to
// the download already running, and owns each download's thread.
//
// Thread rule: thread-safe. Stop() cancels every download and joins their
// threads; afterwards Start fails with Cancelled.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/download.h"

namespace feilong::daemon {

class TaskManager {
 public:
  explicit TaskManager(DownloadDeps deps);
  ~TaskManager();  // Stop()
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  // Starts (or joins) the download of `options.task_id` and attaches
  // `waiter` (which may have no output, e.g. a seed's trigger).
  Status Start(const DownloadRequestOptions& options, DownloadWaiter waiter);
  // True while a download of the task runs.
  bool IsRunning(const std::string& task_id);
  // Cancels the running download of the task, if any.
  void Cancel(const std::string& task_id);
  void Stop();

 private:
  struct Running {
    std::shared_ptr<Download> download;
    std::jthread thread;
  };
  // REQUIRES: mutex_ held. Joins and forgets downloads that ended.
  void ReapLocked();

  DownloadDeps deps_;
  std::mutex mutex_;
  bool stopped_ = false;
  std::map<std::string, Running> running_;
};

}  // namespace feilong::daemon
