// Request targets of the piece server (daemon/piece_request.h).
#include "daemon/piece_request.h"

#include <gtest/gtest.h>

#include <string>

namespace feilong::daemon {
namespace {

const std::string kId(64, 'a');

TEST(PieceRequestTest, ParsesPieceTargets) {
  auto t = ParsePieceTarget("/pieces/" + kId + "/17");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->task_id, kId);
  EXPECT_EQ(t->number, 17u);
  t = ParsePieceTarget("/pieces/" + kId + "/4294967295?trace=1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->number, 4294967295u);
}

TEST(PieceRequestTest, MalformedPiecePathsAreInvalidArgument) {
  for (const std::string& bad :
       {std::string("/pieces/"), "/pieces/" + kId, "/pieces/" + kId + "/",
        "/pieces/" + kId + "/4294967296", "/pieces/" + kId + "/-1", "/pieces/" + kId + "/1/2",
        "/pieces/" + kId + "/+1", "/pieces/" + std::string(64, 'A') + "/1",
        "/pieces/" + std::string(63, 'a') + "/1", "/pieces/" + kId + "/00000000001"}) {
    auto t = ParsePieceTarget(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_TRUE(t.status().IsInvalidArgument()) << bad;
  }
}

TEST(PieceRequestTest, OtherPaths) {
  EXPECT_TRUE(ParsePieceTarget("/metrics").status().IsNotFound());
  EXPECT_TRUE(ParsePieceTarget("/piece/x").status().IsNotFound());
  EXPECT_TRUE(ParsePieceTarget("/").status().IsNotFound());
  for (const char* bad : {"", "pieces/x/1", "/a/../b", "*", "http://h/pieces/x/1"}) {
    auto t = ParsePieceTarget(bad);
    EXPECT_TRUE(t.status().IsInvalidArgument()) << bad;
    EXPECT_EQ(t.status().message(), "malformed path") << bad;
  }
}

TEST(PieceRequestTest, ParsePieceNumber) {
  uint32_t n = 9;
  EXPECT_TRUE(ParsePieceNumber("0", &n));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(ParsePieceNumber("0000000007", &n));
  EXPECT_EQ(n, 7u);
  for (const char* bad : {"", "4294967296", "99999999999", " 1", "1a", "-0"}) {
    EXPECT_FALSE(ParsePieceNumber(bad, &n)) << bad;
  }
  EXPECT_EQ(n, 7u);
}

}  // namespace
}  // namespace feilong::daemon
