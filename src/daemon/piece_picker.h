// Piece picking: which piece a download fetches next, and from whom. A pure
// policy core (no I/O, no clock), so its choices are tested from tables.
//
// From parents: the rarest missing piece (held by the fewest usable
// parents; the lowest number among equals) that can be verified (its digest
// is known), from the parent holding it with the fewest pieces in flight
// (the first such parent among equals). Rarest first spreads pieces
// through the swarm quickly; the in-flight count stands for spare upload.
//
// From the origin: the lowest-numbered missing piece that no usable parent
// can give.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace feilong::daemon {

struct PickerParent {
  const std::vector<bool>* has = nullptr;  // per piece; REQUIRES: same size as held
  uint32_t in_flight = 0;
};

struct PickerInput {
  const std::vector<bool>& held;
  const std::vector<bool>& in_flight;
  const std::vector<bool>& verifiable;
  // Usable parents only (blocked ones left out).
  const std::vector<PickerParent>& parents;
};

struct ParentPick {
  uint32_t piece = 0;
  size_t parent = 0;  // index into PickerInput::parents
};

std::optional<ParentPick> PickFromParents(const PickerInput& input);
std::optional<uint32_t> PickFromOrigin(const PickerInput& input);

}  // namespace feilong::daemon
