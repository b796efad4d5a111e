#include "common/open_file_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>

namespace feilong {
namespace {

TEST(OpenFileLimitTest, TheSoftLimitIsRaisedToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max <= 64) {
    GTEST_SKIP() << "hard limit " << before.rlim_max << " leaves nothing to raise";
  }
  rlimit lowered = before;
  lowered.rlim_cur = std::min<rlim_t>(before.rlim_max - 1, 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);

  auto raised = RaiseOpenFileLimit();
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  EXPECT_EQ(*raised, static_cast<uint64_t>(before.rlim_max));
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_max);

  auto again = RaiseOpenFileLimit();  // already at the hard limit: unchanged
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, static_cast<uint64_t>(before.rlim_max));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
}

}  // namespace
}  // namespace feilong
