#include "daemon/download/transfer_budget.h"

#include <algorithm>

namespace feilong::daemon {

uint32_t TransferShare(uint32_t total, uint32_t per_download, uint32_t running) {
  if (total == 0) {
    return per_download;
  }
  return std::min(per_download, std::max<uint32_t>(1, total / std::max<uint32_t>(1, running)));
}

std::unique_ptr<TransferBudget::Share> TransferBudget::Join() {
  running_.fetch_add(1, std::memory_order_relaxed);
  return std::unique_ptr<Share>(new Share(*this));
}

}  // namespace feilong::daemon
