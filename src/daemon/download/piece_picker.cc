#include "daemon/download/piece_picker.h"

namespace feilong::daemon {

namespace {

bool Wanted(const PickerInput& in, size_t n) { return !in.held[n] && !in.in_flight[n]; }

bool Fetchable(const PickerInput& in, size_t n) { return Wanted(in, n) && in.verifiable[n]; }

// splitmix64's finalizer: a cheap, well-mixed hash of a piece number.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool HasFetchable(const PickerInput& in, const PickerParent& parent) {
  for (size_t n = 0; n < in.held.size(); ++n) {
    if ((*parent.has)[n] && Fetchable(in, n)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<ParentPick> PickFromParents(const PickerInput& in) {
  const size_t count = in.parents.size();
  std::optional<size_t> chosen;
  for (size_t k = 0; k < count; ++k) {
    size_t i = (k + static_cast<size_t>(in.spread % count)) % count;
    const PickerParent& parent = in.parents[i];
    if (in.max_in_flight_per_parent > 0 && parent.in_flight >= in.max_in_flight_per_parent) {
      continue;
    }
    if (chosen && parent.in_flight >= in.parents[*chosen].in_flight) {
      continue;
    }
    if (HasFetchable(in, parent)) {
      chosen = i;
    }
  }
  if (!chosen) {
    return std::nullopt;
  }
  const std::vector<bool>& has = *in.parents[*chosen].has;
  std::optional<uint32_t> best;
  size_t best_holders = SIZE_MAX;
  uint64_t best_key = 0;
  for (size_t n = 0; n < in.held.size(); ++n) {
    if (!has[n] || !Fetchable(in, n)) {
      continue;
    }
    size_t holders = 0;
    for (const auto& parent : in.parents) {
      holders += (*parent.has)[n] ? 1 : 0;
    }
    uint64_t key = in.spread == 0 ? n : Mix(n ^ in.spread);
    if (holders < best_holders || (holders == best_holders && key < best_key)) {
      best_holders = holders;
      best_key = key;
      best = static_cast<uint32_t>(n);
    }
  }
  return ParentPick{*best, *chosen};
}

std::optional<uint32_t> PickFromOrigin(const PickerInput& in) {
  const bool shuffled = !in.parents.empty() && in.spread != 0;
  std::optional<uint32_t> best;
  uint64_t best_key = 0;
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
    if (parent_can_give) {
      continue;
    }
    if (!shuffled) {
      return static_cast<uint32_t>(n);
    }
    uint64_t key = Mix(n ^ in.spread);
    if (!best || key < best_key) {
      best = static_cast<uint32_t>(n);
      best_key = key;
    }
  }
  return best;
}

uint32_t OriginRunLength(const PickerInput& in, uint32_t first, uint32_t limit) {
  uint32_t count = 1;
  while (count < limit && first + count < in.held.size() && !in.held[first + count] &&
         !in.in_flight[first + count]) {
    ++count;
  }
  return count;
}

}  // namespace feilong::daemon
