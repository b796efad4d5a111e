#include "daemon/upload/upload_slots.h"

#include <fmt/format.h>

namespace feilong::daemon {

std::string_view UploadRefusalName(UploadRefusal refusal) {
  switch (refusal) {
    case UploadRefusal::kSlotsFull:
      return "slots";
    case UploadRefusal::kPieceBusy:
    case UploadRefusal::kSentBefore:
      return "piece";  // the child's answer is the same: ask for another piece
  }
  return "unknown";
}

UploadSlots::Ticket::Ticket(Ticket&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)), key_(std::move(other.key_)) {}

UploadSlots::Ticket& UploadSlots::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    if (slots_ != nullptr) {
      slots_->Release(key_);
    }
    slots_ = std::exchange(other.slots_, nullptr);
    key_ = std::move(other.key_);
  }
  return *this;
}

UploadSlots::Ticket::~Ticket() {
  if (slots_ != nullptr) {
    slots_->Release(key_);
  }
}

UploadSlots::Acquired UploadSlots::TryAcquire(std::string_view task_id, uint32_t number,
                                              uint32_t held_while_downloading) {
  std::string key = fmt::format("{}/{}", task_id, number);
  MutexLock lock(mutex_);
  if (max_uploads_ > 0 && sending_.size() >= max_uploads_) {
    return {std::nullopt, UploadRefusal::kSlotsFull};
  }
  if (sending_.contains(key)) {
    return {std::nullopt, UploadRefusal::kPieceBusy};
  }
  if (first_copies_first_) {
    if (held_while_downloading == 0) {
      if (auto it = sent_.find(task_id); it != sent_.end()) {
        sent_.erase(it);
      }
    } else {
      auto it = sent_.find(task_id);
      if (it == sent_.end()) {
        it = sent_.emplace(std::string(task_id), Sent{}).first;
      }
      std::set<uint32_t>& pieces = it->second.pieces;
      if (pieces.contains(number) &&
          (pieces.size() < held_while_downloading || SendingAnyOf(task_id))) {
        return {std::nullopt, UploadRefusal::kSentBefore};
      }
      pieces.insert(number);
    }
  }
  sending_.insert(key);
  return {Ticket(this, std::move(key)), UploadRefusal::kSlotsFull};
}

bool UploadSlots::SendingAnyOf(std::string_view task_id) const {
  std::string prefix = fmt::format("{}/", task_id);
  auto it = sending_.lower_bound(prefix);
  return it != sending_.end() && it->starts_with(prefix);
}

uint32_t UploadSlots::active() const {
  MutexLock lock(mutex_);
  return static_cast<uint32_t>(sending_.size());
}

void UploadSlots::Release(const std::string& key) {
  {
    MutexLock lock(mutex_);
    sending_.erase(key);
  }
  if (on_release_) {
    on_release_();
  }
}

}  // namespace feilong::daemon
