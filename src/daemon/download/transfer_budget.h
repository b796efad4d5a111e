// TransferBudget: the piece transfers a daemon runs at once, shared by all
// of its downloads.
//
// Each download may run `download.concurrent_pieces` transfers. Many
// downloads at once would multiply that into more connections, buffers and
// busy answers than any link needs (100 downloads of 8 transfers each: ~800
// connections, while a parent sends 4 pieces at once and answers busy
// beyond its queue). So the daemon has a total, `download.max_transfers`,
// and each running download's share is the total divided among the
// downloads running, at least one, at most its own limit:
//
//   TransferBudget budget(128);
//   auto share = budget.Join();   // counts this download while it lives
//   while (in_flight < share->limit(config.concurrent_pieces)) { ... }
//
// A share follows the count as downloads come and go; transfers already
// running above a smaller share are not stopped, only not replaced.
//
// Thread rule: thread-safe (one atomic count).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace feilong::daemon {

// The rule: min(per_download, max(1, total / running)); total 0 means no
// daemon-wide cap (per_download). `running` counts the asking download.
uint32_t TransferShare(uint32_t total, uint32_t per_download, uint32_t running);

class TransferBudget {
 public:
  // `total`: transfers of all downloads together (0: no cap).
  explicit TransferBudget(uint32_t total) : total_(total) {}
  TransferBudget(const TransferBudget&) = delete;
  TransferBudget& operator=(const TransferBudget&) = delete;

  // One running download's part of the budget.
  class Share {
   public:
    ~Share() { budget_.running_.fetch_sub(1, std::memory_order_relaxed); }
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;

    // Transfers the download may run now, `per_download` the most it
    // would run alone.
    uint32_t limit(uint32_t per_download) const {
      return TransferShare(budget_.total_, per_download, budget_.running());
    }

   private:
    friend class TransferBudget;
    explicit Share(TransferBudget& budget) : budget_(budget) {}
    TransferBudget& budget_;
  };

  // Counts a download as running until the share is destroyed.
  // REQUIRES: every Share is destroyed before the budget.
  std::unique_ptr<Share> Join();

  uint32_t running() const { return running_.load(std::memory_order_relaxed); }

 private:
  const uint32_t total_;
  std::atomic<uint32_t> running_{0};
};

}  // namespace feilong::daemon
