#include "daemon/download/blocking_pool.h"

#include "daemon/thread_name.h"

namespace feilong::daemon {

BlockingPool::BlockingPool(uint32_t threads, std::string name) {
  threads_.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, name] {
      SetThreadName(name.c_str());
      Run();
    });
  }
}

BlockingPool::~BlockingPool() { Stop(); }

bool BlockingPool::Submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return false;
    }
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void BlockingPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
}

void BlockingPool::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) {
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace feilong::daemon
