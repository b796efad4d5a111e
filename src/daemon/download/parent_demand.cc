#include "daemon/download/parent_demand.h"

#include <algorithm>

namespace feilong::daemon {

bool IsUnderfed(const ParentDemand& demand) {
  return demand.transfers < std::max<uint32_t>(1, demand.max_transfers / 2);
}

bool WantsMoreParents(const ParentDemand& demand,
                      std::optional<std::chrono::milliseconds> underfed_for,
                      std::chrono::milliseconds patience) {
  if (demand.usable_parents < demand.wanted) {
    return true;
  }
  return underfed_for && *underfed_for > patience &&
         demand.usable_parents < kUnderfedParentFactor * demand.wanted;
}

}  // namespace feilong::daemon
