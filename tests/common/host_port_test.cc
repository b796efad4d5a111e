#include "common/host_port.h"

#include <gtest/gtest.h>

namespace feilong {
namespace {

TEST(HostPortTest, ParsesHostAndPort) {
  auto hp = ParseHostPort("127.0.0.1:8002");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8002);
  auto any = ParseHostPort("0.0.0.0:0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port, 0);
}

TEST(HostPortTest, StripsIpv6Brackets) {
  auto hp = ParseHostPort("[::1]:65535");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 65535);
}

TEST(HostPortTest, RejectsMalformedAddresses) {
  for (const char* bad :
       {"", "host", "host:", ":80", "[]:80", "h:65536", "h:8o", "h:-1", "h:123456"}) {
    auto hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << bad;
    if (!hp.ok()) {
      EXPECT_NE(hp.status().message().find("expected host:port"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace feilong
