#include "daemon/piece_picker.h"

namespace feilong::daemon {

namespace {

bool Wanted(const PickerInput& in, size_t n) { return !in.held[n] && !in.in_flight[n]; }

}  // namespace

std::optional<ParentPick> PickFromParents(const PickerInput& in) {
  std::optional<uint32_t> best;
  size_t best_holders = SIZE_MAX;
  for (size_t n = 0; n < in.held.size(); ++n) {
    if (!Wanted(in, n) || !in.verifiable[n]) {
      continue;
    }
    size_t holders = 0;
    for (const auto& parent : in.parents) {
      holders += (*parent.has)[n] ? 1 : 0;
    }
    if (holders > 0 && holders < best_holders) {
      best_holders = holders;
      best = static_cast<uint32_t>(n);
      if (holders == 1) {
        break;  // nothing is rarer
      }
    }
  }
  if (!best) {
    return std::nullopt;
  }
  std::optional<size_t> chosen;
  for (size_t i = 0; i < in.parents.size(); ++i) {
    if ((*in.parents[i].has)[*best] &&
        (!chosen || in.parents[i].in_flight < in.parents[*chosen].in_flight)) {
      chosen = i;
    }
  }
  return ParentPick{*best, *chosen};
}

std::optional<uint32_t> PickFromOrigin(const PickerInput& in) {
  for (size_t n = 0; n < in.held.size(); ++n) {
    if (!Wanted(in, n)) {
      continue;
    }
    bool parent_can_give = false;
    if (in.verifiable[n]) {
      for (const auto& parent : in.parents) {
        if ((*parent.has)[n]) {
          parent_can_give = true;
          break;
        }
      }
    }
    if (!parent_can_give) {
      return static_cast<uint32_t>(n);
    }
  }
  return std::nullopt;
}

}  // namespace feilong::daemon
