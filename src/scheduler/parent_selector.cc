#include "scheduler/parent_selector.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace feilong::scheduler {
namespace {

constexpr double kLoadWeight = 0.35;
constexpr double kPiecesWeight = 0.20;
constexpr double kHostTypeWeight = 0.10;
constexpr double kIdcWeight = 0.15;
constexpr double kLocationWeight = 0.10;
constexpr double kHistoryWeight = 0.10;

// Children at which a slot-unknown host's slot score halves.
constexpr double kUnknownSlotHalfLife = 16.0;

bool IsServing(PeerPhase phase) {
  return phase == PeerPhase::kRunning || phase == PeerPhase::kBackToSource ||
         phase == PeerPhase::kSucceeded;
}

double LoadScore(const CandidatePeer& candidate) {
  const HostProfile& host = *candidate.host;
  double bandwidth = 0.5;
  if (host.upload_capacity_bps > 0) {
    double used =
        static_cast<double>(host.upload_rate_bps) / static_cast<double>(host.upload_capacity_bps);
    bandwidth = std::clamp(1.0 - used, 0.0, 1.0);
  }
  double slots;
  if (host.upload_slots > 0) {
    slots = 1.0 / (1.0 + static_cast<double>(candidate.children) / host.upload_slots);
  } else if (host.max_concurrent_uploads > 0) {
    uint32_t used = std::max(host.concurrent_uploads, candidate.children);
    slots = used >= host.max_concurrent_uploads
                ? 0.0
                : 1.0 - static_cast<double>(used) / host.max_concurrent_uploads;
  } else {
    slots = 1.0 / (1.0 + candidate.children / kUnknownSlotHalfLife);
  }
  return 0.6 * bandwidth + 0.4 * slots;
}

double PiecesScore(const SelectionRequest& request, const CandidatePeer& candidate) {
  if (candidate.phase == PeerPhase::kSucceeded) {
    return 1.0;
  }
  if (request.total_pieces == 0) {
    return 0.5;
  }
  return std::min(1.0, static_cast<double>(candidate.finished_pieces) / request.total_pieces);
}

double HostTypeScore(const CandidatePeer& candidate) {
  if (!candidate.host->seed) {
    return 0.5;
  }
  return candidate.phase == PeerPhase::kSucceeded ? 0.25 : 1.0;
}

double HistoryScore(const HostProfile& host) {
  double successes = host.upload_successes;
  return (successes + 1.0) / (successes + host.upload_failures + 1.0);
}

// FNV-1a over both ids: a stable, well-spread order for equal scores that
// differs from one requester to the next.
uint64_t PairHash(std::string_view requester, std::string_view candidate) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view text) {
    for (char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
  };
  mix(requester);
  h ^= 0xff;  // separator: ("ab","c") and ("a","bc") differ
  h *= 0x100000001b3ULL;
  mix(candidate);
  return h;
}

std::vector<std::string_view> SplitLocation(std::string_view location) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t bar = location.find('|', start);
    if (bar == std::string_view::npos) {
      parts.push_back(location.substr(start));
      return parts;
    }
    parts.push_back(location.substr(start, bar - start));
    start = bar + 1;
  }
}

}  // namespace

std::string_view PeerPhaseName(PeerPhase phase) {
  switch (phase) {
    case PeerPhase::kWaiting:
      return "waiting";
    case PeerPhase::kRunning:
      return "running";
    case PeerPhase::kBackToSource:
      return "back_to_source";
    case PeerPhase::kSucceeded:
      return "succeeded";
    case PeerPhase::kFailed:
      return "failed";
    case PeerPhase::kLeft:
      return "left";
  }
  return "unknown";
}

std::string_view FilterReasonName(FilterReason reason) {
  switch (reason) {
    case FilterReason::kKept:
      return "kept";
    case FilterReason::kSelf:
      return "self";
    case FilterReason::kSameHost:
      return "same_host";
    case FilterReason::kBlocked:
      return "blocked";
    case FilterReason::kNotServing:
      return "not_serving";
    case FilterReason::kContentLengthUnknown:
      return "content_length_unknown";
    case FilterReason::kNoUploadSlot:
      return "no_upload_slot";
  }
  return "unknown";
}

double LocationAffinity(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) {
    return 0.0;
  }
  std::vector<std::string_view> pa = SplitLocation(a);
  std::vector<std::string_view> pb = SplitLocation(b);
  size_t shared = 0;
  while (shared < pa.size() && shared < pb.size() && pa[shared] == pb[shared]) {
    ++shared;
  }
  return static_cast<double>(shared) / static_cast<double>(std::max(pa.size(), pb.size()));
}

std::unordered_set<std::string_view> Descendants(std::string_view peer_id,
                                                 const std::vector<CandidatePeer>& candidates) {
  std::unordered_map<std::string_view, std::vector<std::string_view>> children;
  for (const CandidatePeer& candidate : candidates) {
    if (candidate.parents == nullptr) {
      continue;
    }
    for (const std::string& parent : *candidate.parents) {
      children[parent].push_back(candidate.peer_id);
    }
  }
  std::unordered_set<std::string_view> seen;
  std::deque<std::string_view> frontier{peer_id};
  while (!frontier.empty()) {
    std::string_view current = frontier.front();
    frontier.pop_front();
    auto it = children.find(current);
    if (it == children.end()) {
      continue;
    }
    for (std::string_view child : it->second) {
      if (child != peer_id && seen.insert(child).second) {
        frontier.push_back(child);
      }
    }
  }
  return seen;
}

FilterReason Filter(const SelectionRequest& request, const CandidatePeer& candidate) {
  if (candidate.peer_id == request.peer_id) {
    return FilterReason::kSelf;
  }
  if (candidate.host->id == request.host->id) {
    return FilterReason::kSameHost;
  }
  if (request.excluded != nullptr && !request.excluded->empty() &&
      request.excluded->contains(std::string(candidate.peer_id))) {
    return FilterReason::kBlocked;
  }
  if (!IsServing(candidate.phase)) {
    return FilterReason::kNotServing;
  }
  if (!candidate.knows_content_length) {
    return FilterReason::kContentLengthUnknown;
  }
  const HostProfile& host = *candidate.host;
  if (host.max_concurrent_uploads > 0 && host.concurrent_uploads >= host.max_concurrent_uploads) {
    return FilterReason::kNoUploadSlot;
  }
  return FilterReason::kKept;
}

double Score(const SelectionRequest& request, const CandidatePeer& candidate) {
  const HostProfile& host = *candidate.host;
  const HostProfile& mine = *request.host;
  double idc = (!host.idc.empty() && host.idc == mine.idc) ? 1.0 : 0.0;
  return kLoadWeight * LoadScore(candidate) + kPiecesWeight * PiecesScore(request, candidate) +
         kHostTypeWeight * HostTypeScore(candidate) + kIdcWeight * idc +
         kLocationWeight * LocationAffinity(host.location, mine.location) +
         kHistoryWeight * HistoryScore(host);
}

bool IsTransient(FilterReason reason) {
  return reason == FilterReason::kContentLengthUnknown || reason == FilterReason::kNoUploadSlot;
}

std::vector<ScoredCandidate> SelectParents(const SelectionRequest& request,
                                           const std::vector<CandidatePeer>& candidates,
                                           std::vector<FilterReason>* reasons) {
  std::vector<ScoredCandidate> kept;
  std::vector<uint64_t> tie_break;  // per candidate index
  if (reasons != nullptr) {
    reasons->clear();
    reasons->reserve(candidates.size());
  }
  tie_break.resize(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    FilterReason reason = Filter(request, candidates[i]);
    if (reasons != nullptr) {
      reasons->push_back(reason);
    }
    if (reason == FilterReason::kKept) {
      kept.push_back({i, Score(request, candidates[i])});
      tie_break[i] = PairHash(request.peer_id, candidates[i].peer_id);
    }
  }
  auto better = [&](const ScoredCandidate& a, const ScoredCandidate& b) {
    if (a.score != b.score) {
      return a.score > b.score;
    }
    if (tie_break[a.index] != tie_break[b.index]) {
      return tie_break[a.index] < tie_break[b.index];
    }
    return candidates[a.index].peer_id < candidates[b.index].peer_id;
  };
  std::sort(kept.begin(), kept.end(), better);
  size_t n = std::min(request.limit, kept.size());
  if (n > 0 && n < kept.size()) {
    // Keep a way to pieces nobody below the requester holds yet.
    std::unordered_set<std::string_view> descendants = Descendants(request.peer_id, candidates);
    auto outside = [&](const ScoredCandidate& c) {
      return !descendants.contains(candidates[c.index].peer_id);
    };
    if (std::none_of(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(n), outside)) {
      auto first_outside =
          std::find_if(kept.begin() + static_cast<std::ptrdiff_t>(n), kept.end(), outside);
      if (first_outside != kept.end()) {
        kept[n - 1] = *first_outside;
      }
    }
  }
  kept.resize(n);
  return kept;
}

}  // namespace feilong::scheduler
