#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace feilong {
namespace {

using ::testing::MatchesRegex;

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(InitLogging("info").ok()); }
};

TEST_F(LogTest, AcceptsEveryDocumentedLevel) {
  struct Case {
    const char* name;
    spdlog::level::level_enum level;
  };
  for (const Case& c : {Case{"trace", spdlog::level::trace}, Case{"debug", spdlog::level::debug},
                        Case{"info", spdlog::level::info}, Case{"warn", spdlog::level::warn},
                        Case{"error", spdlog::level::err}, Case{"off", spdlog::level::off}}) {
    ASSERT_TRUE(InitLogging(c.name).ok()) << c.name;
    EXPECT_EQ(spdlog::default_logger()->level(), c.level) << c.name;
  }
}

TEST_F(LogTest, RejectsUnknownLevelAndKeepsLogger) {
  ASSERT_TRUE(InitLogging("debug").ok());
  for (const char* bad : {"verbose", "INFO", "", "warning"}) {
    Status s = InitLogging(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find(std::string("'") + bad + "'"), std::string::npos) << s.message();
  }
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
}

TEST_F(LogTest, WritesPatternToStderr) {
  ASSERT_TRUE(InitLogging("info").ok());
  ::testing::internal::CaptureStderr();
  spdlog::info("piece_stored task={} piece={}", "ab12", 3);
  spdlog::debug("hidden_below_level x={}", 1);
  spdlog::default_logger()->flush();
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(out, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
                                "info piece_stored task=ab12 piece=3\n"));
}

TEST_F(LogTest, OffWritesNothing) {
  ASSERT_TRUE(InitLogging("off").ok());
  ::testing::internal::CaptureStderr();
  spdlog::error("should_not_appear");
  spdlog::default_logger()->flush();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace feilong
