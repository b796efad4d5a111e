// Parent selection: which peers of a task a requesting peer should fetch
// from. A pure policy core: no I/O, no clock, no randomness; the same input
// always gives the same answer (ties are broken by peer id).
//
// Filter. A candidate is dropped, for the first reason that applies, when it
//   - is the requester itself (kSelf),
//   - runs on the requester's host (kSameHost),
//   - is in the requester's excluded set: blocked by it or failed for it
//     (kBlocked),
//   - is not serving: only running, back-to-source and succeeded peers are
//     (kNotServing),
//   - does not know the content length yet (kContentLengthUnknown),
//   - has no free upload slot: its host reports max_concurrent_uploads > 0
//     and concurrent_uploads >= max_concurrent_uploads (kNoUploadSlot).
// A candidate that descends from the requester (has it as an ancestor, read
// from the candidates' `parents` lists) is kept: two peers may be each
// other's parents and trade pieces both ways, as in BitTorrent. So that the
// requester still has a way to pieces nobody below it holds yet, the answer
// always includes the best-scoring kept candidate that does not descend
// from it, if there is one (it replaces the last of the top `limit`).
//
// Score. Each kept candidate gets a score in [0, 1], the weighted sum of:
//   0.35 load: 0.6 * free upload bandwidth fraction (1 - rate / capacity;
//        0.5 when the capacity is unknown) + 0.4 * slot share, where
//        children is the number of peers already given this candidate as a
//        parent: 1 / (1 + children / upload slots) when the host announces
//        its upload slots (children share them: one child per slot halves
//        it), else 1 - max(concurrent uploads, children) / max uploads, else
//        1 / (1 + children / 16);
//   0.20 pieces held: finished pieces / total pieces (1 when succeeded;
//        0.5 when the piece count is unknown);
//   0.10 host type: a seed peer still filling 1.0, a normal peer 0.5, a seed
//        peer that has succeeded 0.25 (spare the seeds once others have it);
//   0.15 IDC: 1 when both IDCs are set and equal, else 0;
//   0.10 location: shared leading '|'-separated elements / the longer
//        location's element count (0 when either is empty);
//   0.10 upload history: (successes + 1) / (successes + failures + 1) of the
//        candidate's host.
// The top `limit` by score are returned, best first. Equal scores are
// ordered by a hash of the requester's and the candidate's peer ids, so that
// requesters facing equal candidates (a swarm starting at once) spread over
// them instead of all choosing the same few.
//
// Thread rule: free functions over caller-owned data; safe to call from any
// thread as long as the inputs are not mutated meanwhile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace feilong::scheduler {

// The lifecycle of a peer (one download of one task by one host).
enum class PeerPhase : uint8_t {
  kWaiting,       // registered, no decision yet (or rescheduled without one)
  kRunning,       // fetching from parents (told KIND_NORMAL or KIND_EMPTY)
  kBackToSource,  // fetching from the origin
  kSucceeded,     // has the whole content; still a parent while its stream is open
  kFailed,        // gave up; not a parent
  kLeft,          // stream gone; about to be removed
};

std::string_view PeerPhaseName(PeerPhase phase);

// What the selector needs to know about a host.
struct HostProfile {
  std::string id;
  bool seed = false;
  std::string idc;
  std::string location;              // "country|region|zone"
  uint64_t upload_capacity_bps = 0;  // 0 = unknown
  uint64_t upload_rate_bps = 0;
  uint32_t concurrent_uploads = 0;
  uint32_t max_concurrent_uploads = 0;  // 0 = unknown (no slot limit)
  uint32_t upload_slots = 0;            // piece bodies sent at once; 0 = unknown
  uint32_t upload_failures = 0;         // pieces children reported failed from it
  uint32_t upload_successes = 0;        // pieces children fetched from it
};

// A peer of the task, as a possible parent. Pointers are borrowed and must
// outlive the call.
struct CandidatePeer {
  std::string_view peer_id;
  const HostProfile* host = nullptr;  // required
  PeerPhase phase = PeerPhase::kWaiting;
  bool knows_content_length = false;
  uint32_t finished_pieces = 0;
  uint32_t children = 0;                              // peers currently given this peer as a parent
  const std::vector<std::string>* parents = nullptr;  // its parents' peer ids; may be null
};

struct SelectionRequest {
  std::string_view peer_id;
  const HostProfile* host = nullptr;  // required
  // Peer ids the requester must not be given (blocked or failed parents).
  const std::unordered_set<std::string>* excluded = nullptr;  // may be null
  // Pieces in the task (0 = unknown).
  uint32_t total_pieces = 0;
  // Most parents to return.
  size_t limit = 3;
};

enum class FilterReason : uint8_t {
  kKept,
  kSelf,
  kSameHost,
  kBlocked,
  kNotServing,
  kContentLengthUnknown,
  kNoUploadSlot,
};

std::string_view FilterReasonName(FilterReason reason);

struct ScoredCandidate {
  size_t index;  // into the candidates given
  double score;
};

// Peer ids that have `peer_id` as an ancestor (its descendants), following
// the `parents` lists of `candidates`. Does not include `peer_id` itself.
std::unordered_set<std::string_view> Descendants(std::string_view peer_id,
                                                 const std::vector<CandidatePeer>& candidates);

// Why `candidate` is dropped, or kKept.
FilterReason Filter(const SelectionRequest& request, const CandidatePeer& candidate);

// The candidate's score in [0, 1] (see the file comment); meaningful only
// for a kept candidate.
double Score(const SelectionRequest& request, const CandidatePeer& candidate);

// The kept candidates with the highest scores, best first, at most
// request.limit, with one that does not descend from the requester when
// there is one (see the file comment). When `reasons` is not null
// it receives the filter verdict of every candidate, in input order.
std::vector<ScoredCandidate> SelectParents(const SelectionRequest& request,
                                           const std::vector<CandidatePeer>& candidates,
                                           std::vector<FilterReason>* reasons = nullptr);

// True for verdicts that may change without the requester doing anything: the
// candidate may learn the content length or free an upload slot.
bool IsTransient(FilterReason reason);

// Shared leading elements of two '|'-separated locations over the longer
// one's element count; 0 when either is empty.
double LocationAffinity(std::string_view a, std::string_view b);

}  // namespace feilong::scheduler
