#include "common/ascii.h"

#include <gtest/gtest.h>

namespace feilong {
namespace {

TEST(AsciiTest, LowersOnlyAToZ) {
  EXPECT_EQ(AsciiToLower('A'), 'a');
  EXPECT_EQ(AsciiToLower('Z'), 'z');
  EXPECT_EQ(AsciiToLower('a'), 'a');
  EXPECT_EQ(AsciiToLower('@'), '@');  // just before 'A'
  EXPECT_EQ(AsciiToLower('['), '[');  // just after 'Z'
  EXPECT_EQ(AsciiToLower('\xC4'), '\xC4');
  EXPECT_EQ(AsciiLowercase("Content-Length: 5\xC4"), "content-length: 5\xC4");
}

TEST(AsciiTest, ComparesIgnoringCase) {
  EXPECT_TRUE(AsciiEqualsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(AsciiEqualsIgnoreCase("Content-Length", "Content-Lengths"));
  EXPECT_FALSE(AsciiEqualsIgnoreCase("a[", "a{"));  // '[' is not 'Z' + 1 folded
  EXPECT_TRUE(AsciiEqualsIgnoreCase("", ""));
  EXPECT_TRUE(AsciiStartsWithIgnoreCase("HTTPS://x", "https://"));
  EXPECT_FALSE(AsciiStartsWithIgnoreCase("http", "https"));
  EXPECT_TRUE(AsciiStartsWithIgnoreCase("anything", ""));
}

}  // namespace
}  // namespace feilong
