// Response head parsing (source/http_head.h): header lines as libcurl hands
// them over, Content-Length and Content-Range.
#include "source/http_head.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace feilong::source {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

CurlResponseHead ParseHead(std::initializer_list<const char*> lines, bool* complete) {
  CurlResponseHead head;
  *complete = false;
  for (const char* line : lines) {
    AddHeaderLine(line, head, *complete);
  }
  return head;
}

TEST(HttpHeadTest, StatusLineAndHeaders) {
  bool complete = false;
  CurlResponseHead head =
      ParseHead({"HTTP/1.1 206 Partial Content\r\n", "Content-Range:  bytes 0-0/10 \r\n",
                 "X-Empty:\r\n", "no colon here\r\n", "\r\n"},
                &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(head.status, 206);
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[0].first, "content-range");
  EXPECT_EQ(head.headers[0].second, "bytes 0-0/10");
  ASSERT_NE(head.Find("x-empty"), nullptr);
  EXPECT_EQ(*head.Find("x-empty"), "");
  EXPECT_EQ(head.Find("X-Empty"), nullptr);  // names are looked up lowercased
}

TEST(HttpHeadTest, InterimAndRedirectHeadsStartOver) {
  bool complete = false;
  CurlResponseHead head = ParseHead({"HTTP/1.1 100 Continue\r\n", "\r\n"}, &complete);
  EXPECT_FALSE(complete);  // a 1xx head is followed by the real one
  head = ParseHead({"HTTP/1.1 302 Found\r\n", "Location: /x\r\n", "\r\n", "HTTP/2 200\r\n",
                    "Content-Length: 5\r\n", "\r\n"},
                   &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Find("location"), nullptr);
  EXPECT_EQ(ContentLength(head), 5u);
}

TEST(HttpHeadTest, MalformedStatusIsZero) {
  bool complete = false;
  CurlResponseHead head = ParseHead({"HTTP/1.1 2x0 OK\r\n", "\r\n"}, &complete);
  EXPECT_EQ(head.status, 0);
  EXPECT_FALSE(complete);
  head = ParseHead({"HTTP/1.1\r\n"}, &complete);
  EXPECT_EQ(head.status, 0);
}

TEST(HttpHeadTest, ContentLength) {
  bool complete = false;
  EXPECT_EQ(ContentLength(ParseHead({"HTTP/1.1 200 OK\r\n"}, &complete)), std::nullopt);
  EXPECT_EQ(ContentLength(ParseHead(
                {"HTTP/1.1 200 OK\r\n", "Content-Length: 18446744073709551615\r\n"}, &complete)),
            kMax);
  for (const char* bad : {"-1", "+1", "1 2", "18446744073709551616", "0x10", ""}) {
    std::string line = std::string("Content-Length: ") + bad + "\r\n";
    CurlResponseHead head;
    AddHeaderLine(line, head, complete);
    EXPECT_EQ(ContentLength(head), std::nullopt) << bad;
  }
}

TEST(HttpHeadTest, ParseUint64) {
  uint64_t v = 7;
  EXPECT_TRUE(ParseUint64("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseUint64("00000000000000000001", &v));
  EXPECT_EQ(v, 1u);
  EXPECT_FALSE(ParseUint64("000000000000000000001", &v));  // over 20 characters
  EXPECT_FALSE(ParseUint64("18446744073709551616", &v));
  EXPECT_FALSE(ParseUint64("", &v));
  EXPECT_EQ(v, 1u);  // unchanged on failure
}

TEST(HttpHeadTest, ContentRangeForms) {
  ContentRange r;
  ASSERT_TRUE(ParseContentRange("bytes 0-0/1048576", &r));
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 0u);
  EXPECT_EQ(r.total, 1048576u);
  ASSERT_TRUE(ParseContentRange(" BYTES  5-9/* ", &r));
  EXPECT_EQ(r.first, 5u);
  EXPECT_EQ(r.last, 9u);
  EXPECT_EQ(r.total, kMax);
  ASSERT_TRUE(ParseContentRange("bytes */0", &r));
  EXPECT_EQ(r.first, kMax);
  EXPECT_EQ(r.last, kMax);
  EXPECT_EQ(r.total, 0u);
}

TEST(HttpHeadTest, ContentRangeRejectsRangesOutsideTheContent) {
  ContentRange r{1, 2, 3};
  for (const char* bad :
       {"bytes 5-4/10", "bytes 0-10/10", "bytes */*", "bytes 0-1", "bytes -1/10", "bytes 0-/10",
        "bytes 1-2/3/4", "items 0-0/1", "bytes0-0/1", "bytes 0-0/18446744073709551616", ""}) {
    EXPECT_FALSE(ParseContentRange(bad, &r)) << bad;
  }
  EXPECT_EQ(r.first, 1u);  // unchanged on failure
}

}  // namespace
}  // namespace feilong::source
