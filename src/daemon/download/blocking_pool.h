// BlockingPool: a fixed set of threads for the work of downloads that blocks
// and so must not run on the event loop: committing a piece (flushing it,
// recording it in SQLite, fdatasync when configured), hashing a whole file,
// writing an output, opening a scheduler stream. Transfers themselves do
// not run here: they are asynchronous on the loop (loop_transfers.h).
//
// Thread rule: Submit is thread-safe. Stop (also run by the destructor)
// refuses new jobs, lets running jobs finish and joins the threads; queued
// jobs that never started are destroyed without running.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace feilong::daemon {

class BlockingPool {
 public:
  using Job = std::function<void()>;

  // `name` names the threads (ps, top).
  explicit BlockingPool(uint32_t threads, std::string name = "fl-blocking");
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False once Stop() was called (the job is dropped).
  bool Submit(Job job);
  void Stop();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;   // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::vector<std::jthread> threads_;
};

}  // namespace feilong::daemon
