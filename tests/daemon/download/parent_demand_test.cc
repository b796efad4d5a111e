#include "daemon/download/parent_demand.h"

#include <gtest/gtest.h>

#include <optional>

namespace feilong::daemon {
namespace {

using std::chrono::milliseconds;

struct DemandCase {
  const char* name;
  ParentDemand demand;
  std::optional<milliseconds> underfed_for;
  bool wants_more;
};

TEST(ParentDemandTest, Table) {
  const milliseconds patience(1000);
  const DemandCase cases[] = {
      {"fewer than wanted, fed", {3, 8, 8, 8}, std::nullopt, true},
      {"none at all", {0, 8, 0, 8}, milliseconds(5000), true},
      {"enough and fed", {8, 8, 8, 8}, std::nullopt, false},
      {"enough, underfed only briefly", {8, 8, 1, 8}, milliseconds(400), false},
      {"enough, underfed too long", {8, 8, 1, 8}, milliseconds(1500), true},
      {"underfed at twice wanted", {16, 8, 1, 8}, milliseconds(9000), false},
      {"underfed just below twice wanted", {15, 8, 1, 8}, milliseconds(9000), true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(WantsMoreParents(c.demand, c.underfed_for, patience), c.wants_more) << c.name;
  }
}

TEST(ParentDemandTest, UnderfedBelowHalfTheTransferSlots) {
  EXPECT_TRUE(IsUnderfed({8, 8, 3, 8}));
  EXPECT_FALSE(IsUnderfed({8, 8, 4, 8}));
  // One slot: underfed only when idle.
  EXPECT_TRUE(IsUnderfed({1, 8, 0, 1}));
  EXPECT_FALSE(IsUnderfed({1, 8, 1, 1}));
}

}  // namespace
}  // namespace feilong::daemon
