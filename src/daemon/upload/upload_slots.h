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
// With `first_copies_first` (seed peers), while this peer is still
// downloading a task it sends no piece a second time as long as it holds a
// piece it has not sent at all: what it fetches from the origin enters the
// swarm once, at the rate it arrives, and children spread it among
// themselves (BitTorrent's super-seeding, in short). Nor does it send a
// second copy while any other piece of the task is going out: its upload
// is about as fast as its download from the origin, so copies sent beside
// the first ones would slow every new piece's way into the swarm.
//
// Thread rule: thread-safe. A Ticket may be released on any thread; the
// release callback runs on that thread, outside the lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/mutex.h"

namespace feilong::daemon {

enum class UploadRefusal : uint8_t {
  kSlotsFull,   // `max_uploads` uploads run
  kPieceBusy,   // this piece is being sent to another child
  kSentBefore,  // first_copies_first: sent before, and unsent pieces or other uploads wait
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
  // at a time). `on_release`, when set, runs each time an upload ends (a
  // slot may have come free).
  explicit UploadSlots(uint32_t max_uploads, bool first_copies_first = false,
                       std::function<void()> on_release = nullptr)
      : max_uploads_(max_uploads),
        first_copies_first_(first_copies_first),
        on_release_(std::move(on_release)) {}
  UploadSlots(const UploadSlots&) = delete;
  UploadSlots& operator=(const UploadSlots&) = delete;

  // A ticket for sending piece `number` of `task_id`, or why not.
  // `held_while_downloading`: pieces of the task this peer holds while it is
  // still downloading it; 0 when it is not (then the task's send counts are
  // forgotten).
  // REQUIRES: every Ticket is destroyed before this object.
  struct Acquired {
    std::optional<Ticket> ticket;
    UploadRefusal refusal = UploadRefusal::kSlotsFull;  // meaningful without a ticket
  };
  Acquired TryAcquire(std::string_view task_id, uint32_t number,
                      uint32_t held_while_downloading = 0);

  uint32_t active() const;

 private:
  void Release(const std::string& key) FL_EXCLUDES(mutex_);
  // True when a piece of `task_id` is being sent.
  bool SendingAnyOf(std::string_view task_id) const FL_REQUIRES(mutex_);

  // Pieces of one task sent at least once.
  struct Sent {
    std::set<uint32_t> pieces;
  };

  const uint32_t max_uploads_;
  const bool first_copies_first_;
  const std::function<void()> on_release_;
  mutable Mutex mutex_;
  std::set<std::string, std::less<>> sending_ FL_GUARDED_BY(mutex_);  // "<task id>/<number>"
  // By task id; first_copies_first only.
  std::map<std::string, Sent, std::less<>> sent_ FL_GUARDED_BY(mutex_);
};

}  // namespace feilong::daemon
