// Piece picking: which piece a download fetches next, and from whom. A pure
// policy core (no I/O, no clock), so its choices are tested from tables.
//
// From parents, parent first: the parent with the fewest pieces in flight
// among those below `max_in_flight_per_parent` that hold a missing piece
// whose digest is known (so it can be verified); equally busy parents are
// taken in a rotation that starts at `spread` modulo their count. Then, of
// that parent's pieces, the rarest (held by the fewest usable parents).
// Among equally rare pieces: with `spread` 0 the lowest number, otherwise
// the one whose number hashed with `spread` is smallest.
//
// Why this order: spreading requests over all parents by their load uses
// every parent's upload, not just the one that holds the most (a seed);
// and children of one parent, each with its own `spread`, ask it for
// different pieces instead of all for the same ones, which would leave
// them nothing to trade with each other.
//
// From the origin: a missing piece that no usable parent can give. Alone,
// a download takes them in number order (clients streaming the content see
// it early), and asks for the run of wanted pieces that follows in the same
// request (OriginRunLength): one long transfer keeps the origin's link busy
// where a request per piece pays a round trip and a TCP slow start each. With parents and a
// `spread`, in the order of their numbers hashed with `spread`: peers at the origin together (their
// complete parent gone) then fetch different pieces and trade them, instead of all fetching the
// same pieces in the same order.
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
  // Usable parents only (blocked or cooling-down ones left out).
  const std::vector<PickerParent>& parents;
  // Tie-break among equally busy parents and equally rare pieces; 0: the
  // first parent and the lowest piece number.
  uint64_t spread = 0;
  // Pieces one parent is asked for at once; 0: no cap.
  uint32_t max_in_flight_per_parent = 0;
};

struct ParentPick {
  uint32_t piece = 0;
  size_t parent = 0;  // index into PickerInput::parents
};

std::optional<ParentPick> PickFromParents(const PickerInput& input);
std::optional<uint32_t> PickFromOrigin(const PickerInput& input);

// How many pieces from `first` on (at least 1, at most `limit`) are wanted
// one after the other: not held, not in flight. Only for a download without
// parents (with parents, origin pieces are spread, not run).
uint32_t OriginRunLength(const PickerInput& input, uint32_t first, uint32_t limit);

}  // namespace feilong::daemon
