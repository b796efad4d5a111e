#include "daemon/upload/piece_hub.h"

#include <algorithm>
#include <utility>

namespace feilong::daemon {

PieceHub::Subscription::~Subscription() { hub_->Unsubscribe(task_id_, id_); }

PieceHub::PieceHub(std::chrono::milliseconds batch_interval) : batch_interval_(batch_interval) {
  if (batch_interval_.count() > 0) {
    deliverer_ = std::jthread([this](std::stop_token stop) { DeliverLoop(stop); });
  }
}

PieceHub::~PieceHub() {
  if (deliverer_.joinable()) {
    deliverer_.request_stop();
    deliverer_.join();
  }
}

void PieceHub::BeginTask(const std::string& task_id) {
  MutexLock lock(mutex_);
  tasks_[task_id].active = true;
}

bool PieceHub::IsActive(const std::string& task_id) const {
  MutexLock lock(mutex_);
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.active;
}

PieceHub::Targets PieceHub::TargetsOf(const TaskListeners& task) {
  Targets targets;
  targets.reserve(task.listeners.size());
  for (const auto& [id, listener] : task.listeners) {
    targets.push_back(listener);
  }
  return targets;
}

void PieceHub::Deliver(const Targets& targets, std::span<const uint32_t> numbers) {
  if (numbers.empty()) {
    return;
  }
  for (const auto& listener : targets) {
    listener->on_pieces(numbers);
  }
}

void PieceHub::PublishPiece(const std::string& task_id, uint32_t number) {
  MutexLock deliver(deliver_mutex_);
  Targets targets;
  {
    MutexLock lock(mutex_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) {
      return;
    }
    TaskListeners& task = it->second;
    if (task.active) {
      ++task.published;
    }
    if (task.listeners.empty()) {
      return;
    }
    Time now = std::chrono::steady_clock::now();
    bool quiet = task.collected.empty() && now - task.last_delivery >= batch_interval_;
    if (!quiet) {
      bool first = task.collected.empty();
      task.collected.push_back(number);
      if (first) {
        ++wakeups_;
        collected_cv_.notify_one();
      }
      return;
    }
    task.last_delivery = now;
    targets = TargetsOf(task);
  }
  Deliver(targets, std::span<const uint32_t>(&number, 1));
}

uint32_t PieceHub::PublishedPieces(const std::string& task_id) const {
  MutexLock lock(mutex_);
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.active ? it->second.published : 0;
}

void PieceHub::EndTask(const std::string& task_id) {
  MutexLock deliver(deliver_mutex_);
  Targets targets;
  std::vector<uint32_t> collected;
  {
    MutexLock lock(mutex_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) {
      return;
    }
    targets = TargetsOf(it->second);
    collected = std::move(it->second.collected);
    tasks_.erase(it);
  }
  Deliver(targets, collected);
  for (const auto& listener : targets) {
    listener->on_end();
  }
}

void PieceHub::DeliverLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    // Wait until the earliest collected batch is due.
    {
      MutexLock lock(mutex_);
      while (!stop.stop_requested()) {
        Time due = Time::max();
        for (const auto& [id, task] : tasks_) {
          if (!task.collected.empty()) {
            due = std::min(due, task.last_delivery + batch_interval_);
          }
        }
        if (due <= std::chrono::steady_clock::now()) {
          break;
        }
        uint64_t seen = wakeups_;
        // The predicate runs with mutex_ held (the wait retakes it first);
        // the analysis cannot see that through the lambda.
        auto woken = [this, seen]() FL_NO_THREAD_SAFETY_ANALYSIS { return wakeups_ != seen; };
        if (due == Time::max()) {
          collected_cv_.wait(mutex_, stop, woken);
        } else {
          collected_cv_.wait_until(mutex_, stop, due, woken);
        }
      }
    }
    if (stop.stop_requested()) {
      return;
    }
    // Deliver every batch that is due, each task's in order with its end.
    MutexLock deliver(deliver_mutex_);
    std::vector<std::pair<Targets, std::vector<uint32_t>>> batches;
    {
      MutexLock lock(mutex_);
      Time now = std::chrono::steady_clock::now();
      for (auto& [id, task] : tasks_) {
        if (!task.collected.empty() && task.last_delivery + batch_interval_ <= now) {
          task.last_delivery = now;
          batches.emplace_back(TargetsOf(task), std::exchange(task.collected, {}));
        }
      }
    }
    for (const auto& [targets, numbers] : batches) {
      Deliver(targets, numbers);
    }
  }
}

std::unique_ptr<PieceHub::Subscription> PieceHub::Subscribe(const std::string& task_id,
                                                            Listener listener) {
  MutexLock lock(mutex_);
  uint64_t id = next_id_++;
  tasks_[task_id].listeners.emplace(id, std::make_shared<Listener>(std::move(listener)));
  return std::unique_ptr<Subscription>(new Subscription(this, task_id, id));
}

void PieceHub::Unsubscribe(const std::string& task_id, uint64_t id) {
  MutexLock lock(mutex_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) {
    return;
  }
  it->second.listeners.erase(id);
  if (it->second.listeners.empty() && !it->second.active) {
    tasks_.erase(it);
  }
}

}  // namespace feilong::daemon
