#include "scheduler/parent_selector.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace feilong::scheduler {
namespace {

HostProfile MakeHost(std::string id) {
  HostProfile host;
  host.id = std::move(id);
  return host;
}

// A requester on host "me" and one candidate "c" on host "other", serving
// and knowing the content length; each case changes one thing.
struct FilterCase {
  const char* name;
  std::function<void(HostProfile& mine, HostProfile& theirs, CandidatePeer& candidate,
                     std::unordered_set<std::string>& excluded,
                     std::vector<std::string>& candidate_parents)>
      change;
  FilterReason want;
};

TEST(ParentSelectorTest, FilterTable) {
  const std::vector<FilterCase> cases = {
      {"kept", [](auto&, auto&, auto&, auto&, auto&) {}, FilterReason::kKept},
      {"self", [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.peer_id = "req"; },
       FilterReason::kSelf},
      {"same host", [](auto&, HostProfile& theirs, auto&, auto&, auto&) { theirs.id = "me"; },
       FilterReason::kSameHost},
      {"blocked",
       [](auto&, auto&, auto&, std::unordered_set<std::string>& excluded, auto&) {
         excluded.insert("c");
       },
       FilterReason::kBlocked},
      {"waiting",
       [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.phase = PeerPhase::kWaiting; },
       FilterReason::kNotServing},
      {"failed", [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.phase = PeerPhase::kFailed; },
       FilterReason::kNotServing},
      {"left", [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.phase = PeerPhase::kLeft; },
       FilterReason::kNotServing},
      {"back to source is serving",
       [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.phase = PeerPhase::kBackToSource; },
       FilterReason::kKept},
      {"succeeded is serving",
       [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.phase = PeerPhase::kSucceeded; },
       FilterReason::kKept},
      {"content length unknown",
       [](auto&, auto&, CandidatePeer& c, auto&, auto&) { c.knows_content_length = false; },
       FilterReason::kContentLengthUnknown},
      {"no upload slot",
       [](auto&, HostProfile& theirs, auto&, auto&, auto&) {
         theirs.max_concurrent_uploads = 4;
         theirs.concurrent_uploads = 4;
       },
       FilterReason::kNoUploadSlot},
      {"one slot left",
       [](auto&, HostProfile& theirs, auto&, auto&, auto&) {
         theirs.max_concurrent_uploads = 4;
         theirs.concurrent_uploads = 3;
       },
       FilterReason::kKept},
      {"unknown slot limit",
       [](auto&, HostProfile& theirs, auto&, auto&, auto&) { theirs.concurrent_uploads = 500; },
       FilterReason::kKept},
      {"the requester's child may be its parent too",
       [](auto&, auto&, auto&, auto&, std::vector<std::string>& parents) {
         parents.push_back("req");
       },
       FilterReason::kKept},
  };
  for (const FilterCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    HostProfile mine = MakeHost("me");
    HostProfile theirs = MakeHost("other");
    std::unordered_set<std::string> excluded;
    std::vector<std::string> candidate_parents;
    CandidatePeer candidate{"c", &theirs, PeerPhase::kRunning, true, 1, 0, &candidate_parents};
    tc.change(mine, theirs, candidate, excluded, candidate_parents);
    SelectionRequest request{"req", &mine, &excluded, 10, 3};
    std::vector<CandidatePeer> all = {candidate};
    EXPECT_EQ(FilterReasonName(Filter(request, candidate)), FilterReasonName(tc.want));
    EXPECT_EQ(SelectParents(request, all).size(), tc.want == FilterReason::kKept ? 1u : 0u);
  }
}

TEST(ParentSelectorTest, DescendantsFollowsParentsTransitively) {
  HostProfile host = MakeHost("h");
  std::vector<std::string> b_parents = {"a"};
  std::vector<std::string> c_parents = {"b", "x"};
  std::vector<std::string> d_parents = {"x"};
  std::vector<CandidatePeer> all = {
      {"a", &host, PeerPhase::kRunning, true, 0, 0, nullptr},
      {"b", &host, PeerPhase::kRunning, true, 0, 0, &b_parents},
      {"c", &host, PeerPhase::kRunning, true, 0, 0, &c_parents},
      {"d", &host, PeerPhase::kRunning, true, 0, 0, &d_parents},
  };
  auto of_a = Descendants("a", all);
  EXPECT_EQ(of_a.size(), 2u);
  EXPECT_TRUE(of_a.contains("b"));
  EXPECT_TRUE(of_a.contains("c"));
  EXPECT_TRUE(Descendants("c", all).empty());
  EXPECT_EQ(Descendants("x", all).size(), 2u);
}

TEST(ParentSelectorTest, LocationAffinityTable) {
  struct Case {
    const char* a;
    const char* b;
    double want;
  };
  for (const Case& tc : std::vector<Case>{{"cn|sh|z1", "cn|sh|z1", 1.0},
                                          {"cn|sh|z1", "cn|sh|z2", 2.0 / 3},
                                          {"cn|sh", "cn|sh|z2", 2.0 / 3},
                                          {"cn", "us", 0.0},
                                          {"", "cn", 0.0},
                                          {"", "", 0.0}}) {
    SCOPED_TRACE(std::string(tc.a) + " vs " + tc.b);
    EXPECT_DOUBLE_EQ(LocationAffinity(tc.a, tc.b), tc.want);
  }
}

// Two candidates equal but for one property: the first must score higher.
struct PreferenceCase {
  const char* name;
  std::function<void(HostProfile& better_host, CandidatePeer& better, HostProfile& worse_host,
                     CandidatePeer& worse)>
      change;
};

TEST(ParentSelectorTest, ScorePreferenceTable) {
  const std::vector<PreferenceCase> cases = {
      {"free upload bandwidth",
       [](HostProfile& bh, auto&, HostProfile& wh, auto&) {
         bh.upload_capacity_bps = wh.upload_capacity_bps = 1000;
         bh.upload_rate_bps = 100;
         wh.upload_rate_bps = 900;
       }},
      {"free upload slots",
       [](HostProfile& bh, auto&, HostProfile& wh, auto&) {
         bh.max_concurrent_uploads = wh.max_concurrent_uploads = 10;
         bh.concurrent_uploads = 1;
         wh.concurrent_uploads = 8;
       }},
      {"fewer children",
       [](auto&, CandidatePeer& b, auto&, CandidatePeer& w) {
         b.children = 0;
         w.children = 20;
       }},
      {"fewer children per announced upload slot",
       [](HostProfile& bh, CandidatePeer& b, HostProfile& wh, CandidatePeer& w) {
         bh.upload_slots = 32;
         wh.upload_slots = 8;
         b.children = 8;
         w.children = 8;
       }},
      {"more pieces held",
       [](auto&, CandidatePeer& b, auto&, CandidatePeer& w) {
         b.finished_pieces = 9;
         w.finished_pieces = 1;
       }},
      {"succeeded over running",
       [](auto&, CandidatePeer& b, auto&, CandidatePeer&) { b.phase = PeerPhase::kSucceeded; }},
      {"filling seed over normal",
       [](HostProfile& bh, CandidatePeer& b, auto&, auto&) {
         bh.seed = true;
         b.phase = PeerPhase::kBackToSource;
       }},
      {"same IDC",
       [](HostProfile& bh, auto&, HostProfile& wh, auto&) {
         bh.idc = "idc-a";
         wh.idc = "idc-b";
       }},
      {"closer location",
       [](HostProfile& bh, auto&, HostProfile& wh, auto&) {
         bh.location = "cn|sh|z1";
         wh.location = "cn|bj|z1";
       }},
      {"fewer upload failures",
       [](HostProfile& bh, auto&, HostProfile& wh, auto&) {
         bh.upload_successes = wh.upload_successes = 10;
         wh.upload_failures = 5;
       }},
  };
  for (const PreferenceCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    HostProfile mine = MakeHost("me");
    mine.idc = "idc-a";
    mine.location = "cn|sh|z1";
    HostProfile better_host = MakeHost("h-better");
    HostProfile worse_host = MakeHost("h-worse");
    // Names sort the worse one first, so a tie would pick it.
    CandidatePeer better{"z-better", &better_host, PeerPhase::kRunning, true, 5, 0, nullptr};
    CandidatePeer worse{"a-worse", &worse_host, PeerPhase::kRunning, true, 5, 0, nullptr};
    tc.change(better_host, better, worse_host, worse);
    SelectionRequest request{"req", &mine, nullptr, 10, 1};
    EXPECT_GT(Score(request, better), Score(request, worse));
    std::vector<CandidatePeer> all = {worse, better};
    auto chosen = SelectParents(request, all);
    ASSERT_EQ(chosen.size(), 1u);
    EXPECT_EQ(all[chosen[0].index].peer_id, "z-better");
  }
}

TEST(ParentSelectorTest, ScoreStaysInUnitRange) {
  HostProfile mine = MakeHost("me");
  mine.idc = "x";
  mine.location = "a|b";
  HostProfile best = MakeHost("best");
  best.seed = true;
  best.idc = "x";
  best.location = "a|b";
  best.upload_capacity_bps = 100;
  best.max_concurrent_uploads = 10;
  HostProfile worst = MakeHost("worst");
  worst.upload_capacity_bps = 100;
  worst.upload_rate_bps = 500;  // over capacity
  worst.upload_failures = 1000;
  SelectionRequest request{"req", &mine, nullptr, 4, 3};
  double high = Score(request, {"b", &best, PeerPhase::kBackToSource, true, 4, 0, nullptr});
  double low = Score(request, {"w", &worst, PeerPhase::kRunning, true, 0, 1000, nullptr});
  EXPECT_LE(high, 1.0 + 1e-9);
  EXPECT_GT(high, 0.9);
  EXPECT_GE(low, 0.0);
  EXPECT_LT(low, 0.1);
}

TEST(ParentSelectorTest, SelectReturnsTopNBestFirst) {
  HostProfile mine = MakeHost("me");
  std::vector<HostProfile> hosts;
  for (int i = 0; i < 5; ++i) {
    hosts.push_back(MakeHost("h" + std::to_string(i)));
  }
  std::vector<std::string> ids = {"p0", "p1", "p2", "p3", "p4"};
  std::vector<CandidatePeer> all;
  for (int i = 0; i < 5; ++i) {
    all.push_back({ids[i], &hosts[i], PeerPhase::kRunning, true, 0, 0, nullptr});
  }
  all[3].finished_pieces = 10;         // best
  all[1].finished_pieces = 5;          // second
  all[4].phase = PeerPhase::kWaiting;  // filtered
  SelectionRequest request{"req", &mine, nullptr, 10, 3};
  auto chosen = SelectParents(request, all);
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_EQ(all[chosen[0].index].peer_id, "p3");
  EXPECT_EQ(all[chosen[1].index].peer_id, "p1");
  // p0 and p2 tie: either, the same one every time.
  std::string third(all[chosen[2].index].peer_id);
  EXPECT_TRUE(third == "p0" || third == "p2") << third;
  EXPECT_EQ(all[SelectParents(request, all)[2].index].peer_id, third);
  EXPECT_GE(chosen[0].score, chosen[1].score);
  request.limit = 10;
  EXPECT_EQ(SelectParents(request, all).size(), 4u);
  EXPECT_TRUE(SelectParents(request, {}).empty());
}

// A swarm starting at once: every candidate looks the same. Requesters must
// not all pick the same few parents.
TEST(ParentSelectorTest, RequestersSpreadOverEqualCandidates) {
  HostProfile mine = MakeHost("me");
  std::vector<HostProfile> hosts;
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    hosts.push_back(MakeHost("h" + std::to_string(i)));
    ids.push_back("peer-" + std::to_string(i));
  }
  std::vector<CandidatePeer> all;
  for (int i = 0; i < 12; ++i) {
    all.push_back({ids[i], &hosts[i], PeerPhase::kRunning, true, 0, 0, nullptr});
  }
  std::set<std::string_view> chosen_by_someone;
  for (int r = 0; r < 12; ++r) {
    std::string requester = "requester-" + std::to_string(r);
    SelectionRequest request{requester, &mine, nullptr, 10, 3};
    for (const ScoredCandidate& c : SelectParents(request, all)) {
      chosen_by_someone.insert(all[c.index].peer_id);
    }
  }
  EXPECT_GE(chosen_by_someone.size(), 8u);
}

// Children may be parents of their parent, but every answer keeps one
// parent from outside the requester's subtree while there is one.
TEST(ParentSelectorTest, KeepsAParentOutsideTheRequestersSubtree) {
  HostProfile mine = MakeHost("me");
  HostProfile seed_host = MakeHost("seed");
  std::vector<HostProfile> hosts{MakeHost("a"), MakeHost("b"), MakeHost("c")};
  std::vector<std::string> to_req{"req"};
  std::vector<std::string> to_a{"a"};
  std::vector<CandidatePeer> all = {
      {"seed", &seed_host, PeerPhase::kRunning, true, 0, 30, nullptr},  // busy: low score
      {"a", &hosts[0], PeerPhase::kRunning, true, 9, 0, &to_req},       // req's child
      {"b", &hosts[1], PeerPhase::kRunning, true, 9, 0, &to_a},         // req's grandchild
      {"c", &hosts[2], PeerPhase::kRunning, true, 9, 0, &to_req},       // req's child
  };
  SelectionRequest request{"req", &mine, nullptr, 10, 3};
  ASSERT_LT(Score(request, all[0]), Score(request, all[1]));
  auto chosen = SelectParents(request, all);
  ASSERT_EQ(chosen.size(), 3u);
  std::set<std::string_view> ids;
  for (const ScoredCandidate& c : chosen) {
    ids.insert(all[c.index].peer_id);
  }
  EXPECT_TRUE(ids.contains("seed"));
  // With room for everyone nothing is replaced.
  request.limit = 4;
  EXPECT_EQ(SelectParents(request, all).size(), 4u);
}

}  // namespace
}  // namespace feilong::scheduler
