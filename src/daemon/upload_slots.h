// UploadSlots: which piece uploads a peer's piece server takes on right now.
//
// A peer that sends many pieces at once finishes each of them late, and a
// child can pass a piece on only once it holds all of it; a peer that sends
// the same piece to two children at once spends its upload on a copy the
// children could have traded between themselves. So the piece server takes
// an upload only while a slot is free and nobody else is being sent that
// piece; otherwise it answers "busy" at once and the child asks another
// parent (or for another piece). This is the piece server's choking.
//
// Thread rule: thread-safe. A Ticket may be released on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace feilong::daemon {

enum class UploadRefusal : uint8_t {
  kSlotsFull,  // `max_uploads` uploads run
  kPieceBusy,  // this piece is being sent to another child
};

std::string_view UploadRefusalName(UploadRefusal refusal);

class UploadSlots {
 public:
  // An upload in progress; frees its slot and its piece when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    ~Ticket();

   private:
    friend class UploadSlots;
    Ticket(UploadSlots* slots, std::string key) : slots_(slots), key_(std::move(key)) {}
    UploadSlots* slots_;
    std::string key_;
  };

  // `max_uploads` 0: no limit on the count (a piece still goes to one child
  // at a time).
  explicit UploadSlots(uint32_t max_uploads) : max_uploads_(max_uploads) {}
  UploadSlots(const UploadSlots&) = delete;
  UploadSlots& operator=(const UploadSlots&) = delete;

  // A ticket for sending piece `number` of `task_id`, or why not.
  // REQUIRES: every Ticket is destroyed before this object.
  struct Acquired {
    std::optional<Ticket> ticket;
    UploadRefusal refusal = UploadRefusal::kSlotsFull;  // meaningful without a ticket
  };
  Acquired TryAcquire(std::string_view task_id, uint32_t number);

  uint32_t active() const;

 private:
  void Release(const std::string& key);

  const uint32_t max_uploads_;
  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> sending_;  // "<task id>/<number>"
};

}  // namespace feilong::daemon
