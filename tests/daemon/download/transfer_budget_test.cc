#include "daemon/download/transfer_budget.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace feilong::daemon {
namespace {

TEST(TransferShareTest, FollowsTheRule) {
  struct Row {
    uint32_t total, per_download, running, want;
  };
  for (const Row& row : std::vector<Row>{
           {128, 8, 1, 8},   // alone: its own limit
           {128, 8, 16, 8},  // 16 × 8 fits the total
           {128, 8, 17, 7},  // beyond: the total divided
           {128, 8, 64, 2},
           {128, 8, 100, 1},  // never below one
           {128, 8, 1000, 1},
           {0, 8, 1000, 8},  // no daemon-wide cap
           {4, 8, 0, 4},     // nobody counted yet: as if alone
       }) {
    EXPECT_EQ(TransferShare(row.total, row.per_download, row.running), row.want)
        << row.total << " " << row.per_download << " " << row.running;
  }
}

TEST(TransferBudgetTest, SharesFollowDownloadsComingAndGoing) {
  TransferBudget budget(16);
  auto first = budget.Join();
  EXPECT_EQ(first->limit(8), 8u);
  std::vector<std::unique_ptr<TransferBudget::Share>> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(budget.Join());
  }
  EXPECT_EQ(budget.running(), 4u);
  EXPECT_EQ(first->limit(8), 4u);
  EXPECT_EQ(others[0]->limit(8), 4u);
  others.clear();
  EXPECT_EQ(budget.running(), 1u);
  EXPECT_EQ(first->limit(8), 8u);
}

}  // namespace
}  // namespace feilong::daemon
