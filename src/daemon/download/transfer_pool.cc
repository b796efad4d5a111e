#include "daemon/download/transfer_pool.h"

#include "daemon/thread_name.h"

namespace feilong::daemon {

Result<source::SourceClient*> TransferContext::SourceFor(const std::string& url) {
  std::string scheme = url.substr(0, url.find(':'));
  auto it = sources_.find(scheme);
  if (it == sources_.end()) {
    FL_ASSIGN_OR_RETURN(auto client, source::NewSourceClient(url, source_options_));
    it = sources_.emplace(scheme, std::move(client)).first;
  }
  return it->second.get();
}

TransferPool::TransferPool(uint32_t threads, const PieceClientOptions& options,
                           const source::SourceClientOptions& source_options)
    : options_(options), source_options_(source_options) {
  workers_.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
  threads_.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, worker = workers_[i].get()] {
      SetThreadName("fl-transfer");
      TransferContext context(options_, source_options_);
      Run(*worker, context);
    });
  }
}

TransferPool::~TransferPool() { Stop(); }

bool TransferPool::Submit(Job job) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    return false;
  }
  jobs_.push_back(std::move(job));
  if (!idle_.empty()) {
    Worker* worker = idle_.back();
    idle_.pop_back();
    worker->woken = true;
    worker->wake.notify_one();
  }
  return true;
}

void TransferPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) {
      return;
    }
    stopping_ = true;
    jobs_.clear();
    for (auto& worker : workers_) {
      worker->wake.notify_one();
    }
  }
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

void TransferPool::Run(Worker& worker, TransferContext& context) {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      while (!stopping_ && jobs_.empty()) {
        worker.woken = false;
        idle_.push_back(&worker);
        worker.wake.wait(lock, [&] { return worker.woken || stopping_; });
        if (!worker.woken) {
          std::erase(idle_, &worker);  // stopping
        }
      }
      if (stopping_) {
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job(context);
  }
}

}  // namespace feilong::daemon
