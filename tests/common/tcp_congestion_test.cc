#include "common/tcp_congestion.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/scoped_fd.h"

namespace feilong {
namespace {

ScopedFd TcpSocket() { return ScopedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

TEST(TcpCongestionTest, ASocketRunsTheAlgorithmSetOnIt) {
  ScopedFd socket = TcpSocket();
  ASSERT_TRUE(socket.valid());
  // Reno is built into every Linux kernel and allowed to every process.
  ASSERT_TRUE(SetTcpCongestion(socket.get(), "reno").ok());
  Result<std::string> running = TcpCongestionOf(socket.get());
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  EXPECT_EQ(*running, "reno");
  EXPECT_TRUE(ProbeTcpCongestion("reno").ok());
}

TEST(TcpCongestionTest, AnUnknownAlgorithmIsNotFoundAndNamed) {
  ScopedFd socket = TcpSocket();
  ASSERT_TRUE(socket.valid());
  Status set = SetTcpCongestion(socket.get(), "nosuchcc");
  EXPECT_EQ(set.code(), StatusCode::kNotFound) << set.ToString();
  EXPECT_NE(set.message().find("nosuchcc"), std::string::npos);
  EXPECT_EQ(ProbeTcpCongestion("nosuchcc").code(), StatusCode::kNotFound);
}

TEST(TcpCongestionTest, NamesAreCheckedBeforeTheKernelSeesThem) {
  EXPECT_TRUE(ValidateTcpCongestionName("").ok());
  EXPECT_TRUE(ValidateTcpCongestionName("bbr").ok());
  EXPECT_TRUE(ValidateTcpCongestionName("highspeed_2-x").ok());
  for (const char* bad : {"Cubic", "cubic ", "a/b", "sixteen_chars_xx"}) {
    EXPECT_EQ(ValidateTcpCongestionName(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  ScopedFd socket = TcpSocket();
  EXPECT_EQ(SetTcpCongestion(socket.get(), "").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace feilong
