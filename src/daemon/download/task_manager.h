// TaskManager: starts downloads, joins callers asking for the same task to
// the download already running, and forgets each download when it ends.
// Downloads run on the strands of DownloadDeps::strands: no thread of
// their own.
//
// Private tasks (access/grant.h): a request for a task that is private (the
// request carries credentials, or the task is private in the store or in
// the download running for it) is let in only with access proven: the
// caller says it checked (`access_proven`: the registry mirror's HEAD with
// the client's credentials, a seed triggered by the scheduler), or, with
// `prove_access`, the origin answers a probe (HEAD, or a one-byte GET) made
// with this request's own URL and headers before anything is attached or
// served from the cache. Otherwise PermissionDenied, and nothing is started.
//
// Thread rule: thread-safe. Stop() cancels every download and waits until
// each has ended; afterwards Start fails with Cancelled. REQUIRES: the loop
// behind DownloadDeps::strands runs until Stop returns.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "daemon/download/download.h"

namespace feilong::daemon {

class TaskManager {
 public:
  explicit TaskManager(DownloadDeps deps);
  ~TaskManager();  // Stop()
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  // Starts (or joins) the download of `options.task_id` and attaches
  // `waiter` (which may have no output, e.g. a seed's trigger). With
  // `prove_access`, may block for the origin probe (up to the origin's
  // stall timeout); the probe's error (PermissionDenied, NotFound, ...) is
  // returned as is.
  Status Start(DownloadRequestOptions options, DownloadWaiter waiter, bool prove_access = false);
  // True while a download of the task runs.
  bool IsRunning(const std::string& task_id);
  // Cancels the running download of the task, if any.
  void Cancel(const std::string& task_id);
  void Stop();

 private:
  struct Running {
    std::shared_ptr<Download> download;
    // Requests that came while it was ending: a new download serves them
    // once it has ended (the cache then serves what it completed).
    std::vector<std::pair<DownloadRequestOptions, DownloadWaiter>> next;
  };
  // REQUIRES: mutex_ held.
  void LaunchLocked(const DownloadRequestOptions& options, std::vector<DownloadWaiter> waiters);
  // Runs on the ended download's strand.
  void OnEnded(const std::string& task_id, const Download* download);
  // Whether the task is private in the store or in its running download.
  bool IsPrivate(const std::string& task_id);
  // Probes the origin with `spec`'s URL and headers (DownloadDeps::transfers).
  Status ProveAccess(const common::v1::TaskSpec& spec);

  DownloadDeps deps_;
  std::mutex mutex_;
  std::condition_variable all_ended_;
  bool stopped_ = false;
  std::map<std::string, Running> running_;
};

}  // namespace feilong::daemon
