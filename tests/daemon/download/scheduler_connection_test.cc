#include "daemon/download/scheduler_connection.h"

#include <gtest/gtest.h>

#include <map>

namespace feilong::daemon {
namespace {

TEST(RankSchedulersTest, SameOrderForTheSameTaskWhateverTheInputOrder) {
  std::vector<std::string> a = {"s1:8002", "s2:8002", "s3:8002"};
  std::vector<std::string> b = {"s3:8002", "s1:8002", "s2:8002"};
  EXPECT_EQ(RankSchedulers(a, "task-x"), RankSchedulers(b, "task-x"));
  EXPECT_EQ(RankSchedulers(a, "task-x").size(), 3u);
}

TEST(RankSchedulersTest, SpreadsTasksAndMovesOnlyTheRemovedSchedulersTasks) {
  std::vector<std::string> all = {"s1:8002", "s2:8002", "s3:8002"};
  std::vector<std::string> without_s2 = {"s1:8002", "s3:8002"};
  std::map<std::string, int> first;
  for (int i = 0; i < 300; ++i) {
    std::string task = "task-" + std::to_string(i);
    std::string before = RankSchedulers(all, task).front();
    std::string after = RankSchedulers(without_s2, task).front();
    ++first[before];
    if (before != "s2:8002") {
      EXPECT_EQ(before, after) << task;
    }
  }
  for (const auto& s : all) {
    EXPECT_GT(first[s], 60) << s << " gets a fair share";
  }
}

}  // namespace
}  // namespace feilong::daemon
