// Parent demand: when a download asks the scheduler for more parents. A
// pure rule (the caller supplies the clock readings), tested from a table.
//
// A download wants `wanted` parents: with fewer it asks. With enough, it
// still asks when its parents have left it underfed for longer than
// `patience`: fewer than half of its piece slots busy, because they hold
// nothing it lacks or answer busy. More parents then means more pieces to
// choose from and more upload to draw on. An underfed download stops asking
// at `kUnderfedParentFactor` times `wanted`, so a swarm where everyone
// waits for the same pieces does not end up with everyone as everyone's
// parent.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace feilong::daemon {

inline constexpr uint32_t kUnderfedParentFactor = 2;

struct ParentDemand {
  uint32_t usable_parents = 0;
  uint32_t wanted = 0;
  // Transfers in flight and the most the download runs at once.
  uint32_t transfers = 0;
  uint32_t max_transfers = 0;
};

// True when fewer than half of the download's transfer slots (at least one)
// are busy.
bool IsUnderfed(const ParentDemand& demand);

// `underfed_for`: how long the download has been underfed without a break
// (nullopt: it is fed now).
bool WantsMoreParents(const ParentDemand& demand,
                      std::optional<std::chrono::milliseconds> underfed_for,
                      std::chrono::milliseconds patience);

}  // namespace feilong::daemon
