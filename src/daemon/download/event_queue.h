// EventQueue: a multi-producer, single-consumer queue. Producers (transfer
// threads, stream readers, gRPC handlers) Push; the owning conductor thread
// Pops. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace feilong::daemon {

template <typename T>
class EventQueue {
 public:
  void Push(T event) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  // Waits up to `timeout` for an event; nullopt on timeout.
  std::optional<T> PopFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) {
      return std::nullopt;
    }
    T event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<T> events_;
};

}  // namespace feilong::daemon
