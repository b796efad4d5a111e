#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/local_socket.h"

namespace feilong::daemon {
namespace {

TEST(CallerRegistryTest, ACallerIsFoundByItsConnectionOnly) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  CallerRegistry registry;
  Caller alice;
  alice.uid = 61001;
  registry.Record(pair[0], alice);
  const std::string peer = "fd:" + std::to_string(pair[0]);
  auto found = registry.CallerOf(peer);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->uid, 61001u);
  EXPECT_EQ(registry.CallerOf("unix:/run/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry.CallerOf("fd:12x").status().code(), StatusCode::kNotFound);

  // The connection goes; a new socket gets the same descriptor number.
  ::close(pair[0]);
  int reused = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(reused, pair[0]) << "the lowest free number is reused";
  EXPECT_EQ(registry.CallerOf(peer).status().code(), StatusCode::kNotFound)
      << "alice's record must not speak for another connection";
  ::close(reused);
  ::close(pair[1]);
}

}  // namespace
}  // namespace feilong::daemon
