// TransferPool: a fixed set of threads that run blocking piece transfers
// (from parents over HTTP, from the origin via libcurl) for all downloads.
// Each thread keeps its own clients so connections are reused per thread.
// A new job goes to the thread that went idle last: with fewer jobs than
// threads the same few threads do the work, and their connections stay warm
// (an idle TCP connection restarts slow start) instead of spread thin.
//
// Thread rule: Submit is thread-safe. Stop (also run by the destructor)
// refuses new jobs, lets running jobs finish and joins the threads; queued
// jobs that never started are destroyed without running.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "daemon/download/piece_client.h"
#include "source/source_client.h"

namespace feilong::daemon {

// Per-thread state handed to every job run on that thread.
class TransferContext {
 public:
  TransferContext(const PieceClientOptions& options,
                  const source::SourceClientOptions& source_options = {})
      : piece_client_(options), source_options_(source_options) {}
  PieceClient& piece_client() { return piece_client_; }
  // A client for the URL's scheme, created on first use and kept.
  Result<source::SourceClient*> SourceFor(const std::string& url);

 private:
  PieceClient piece_client_;
  source::SourceClientOptions source_options_;
  std::map<std::string, std::unique_ptr<source::SourceClient>> sources_;
};

class TransferPool {
 public:
  using Job = std::function<void(TransferContext&)>;

  // `source_options` apply to every origin client the threads create.
  TransferPool(uint32_t threads, const PieceClientOptions& options,
               const source::SourceClientOptions& source_options = {});
  ~TransferPool();
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;

  // False once Stop() was called (the job is dropped).
  bool Submit(Job job);
  void Stop();

 private:
  struct Worker {
    std::condition_variable wake;
    bool woken = false;  // guarded by mutex_
  };
  void Run(Worker& worker, TransferContext& context);

  std::mutex mutex_;
  std::deque<Job> jobs_;
  std::vector<Worker*> idle_;  // the last one went idle last
  std::vector<std::unique_ptr<Worker>> workers_;
  bool stopping_ = false;
  PieceClientOptions options_;
  source::SourceClientOptions source_options_;
  std::vector<std::jthread> threads_;
};

}  // namespace feilong::daemon
