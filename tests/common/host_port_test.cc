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

// Found by tests/fuzz/host_port_fuzz: these were accepted with hosts such as
// "127.0.0.1:4:1]" and "::1", which no longer printed back as the address.
TEST(HostPortTest, RejectsStrayBracketsAndUnbracketedColons) {
  for (const char* bad :
       {"127.0.0.1:4:1]:5", "[[::1]]:80", "[a:80", "a]:80", "[a]b]:80", "::1:80", "a:b:80"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
  auto v6 = ParseHostPort("[fe80::1%eth0]:4005");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "fe80::1%eth0");
}

}  // namespace
}  // namespace feilong
