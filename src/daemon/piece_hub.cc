#include "daemon/piece_hub.h"

#include <vector>

namespace feilong::daemon {

PieceHub::Subscription::~Subscription() { hub_->Unsubscribe(task_id_, id_); }

void PieceHub::BeginTask(const std::string& task_id) {
  std::lock_guard lock(mutex_);
  tasks_[task_id].active = true;
}

bool PieceHub::IsActive(const std::string& task_id) const {
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.active;
}

void PieceHub::PublishPiece(const std::string& task_id, uint32_t number) {
  std::vector<std::shared_ptr<Listener>> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) {
      return;
    }
    if (it->second.active) {
      ++it->second.published;
    }
    for (auto& [id, listener] : it->second.listeners) {
      targets.push_back(listener);
    }
  }
  for (auto& listener : targets) {
    listener->on_piece(number);
  }
}

uint32_t PieceHub::PublishedPieces(const std::string& task_id) const {
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(task_id);
  return it != tasks_.end() && it->second.active ? it->second.published : 0;
}

void PieceHub::EndTask(const std::string& task_id) {
  std::vector<std::shared_ptr<Listener>> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end()) {
      return;
    }
    for (auto& [id, listener] : it->second.listeners) {
      targets.push_back(listener);
    }
    tasks_.erase(it);
  }
  for (auto& listener : targets) {
    listener->on_end();
  }
}

std::unique_ptr<PieceHub::Subscription> PieceHub::Subscribe(const std::string& task_id,
                                                            Listener listener) {
  std::lock_guard lock(mutex_);
  uint64_t id = next_id_++;
  tasks_[task_id].listeners.emplace(id, std::make_shared<Listener>(std::move(listener)));
  return std::unique_ptr<Subscription>(new Subscription(this, task_id, id));
}

void PieceHub::Unsubscribe(const std::string& task_id, uint64_t id) {
  std::lock_guard lock(mutex_);
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
