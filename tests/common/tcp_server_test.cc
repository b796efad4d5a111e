#include "common/tcp_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>
#include <string>

namespace feilong {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Counts the connection coroutine frames alive.
struct FrameGuard {
  explicit FrameGuard(std::atomic<int>& alive) : alive_(alive) { ++alive_; }
  ~FrameGuard() { --alive_; }
  std::atomic<int>& alive_;
};

// Echoes one byte per byte received; "!" throws.
asio::awaitable<void> Echo(tcp::socket socket, std::atomic<int>& alive) {
  FrameGuard guard(alive);
  char byte = 0;
  for (;;) {
    auto [ec, n] = co_await asio::async_read(socket, asio::buffer(&byte, 1), kNoThrow);
    if (ec) {
      co_return;
    }
    if (byte == '!') {
      throw std::runtime_error("a handler failed");
    }
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(&byte, 1), kNoThrow);
    if (write_error) {
      co_return;
    }
  }
}

class TcpServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<TcpServer> StartEcho(uint32_t threads = 2) {
    auto server = TcpServer::Start({"echo", "127.0.0.1", 0, threads}, [this](tcp::socket socket) {
      return Echo(std::move(socket), alive_);
    });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }
  tcp::socket Connect(uint16_t port) {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    return socket;
  }
  static char RoundTrip(tcp::socket& socket, char byte) {
    asio::write(socket, asio::buffer(&byte, 1));
    char back = 0;
    asio::read(socket, asio::buffer(&back, 1));
    return back;
  }

  std::atomic<int> alive_{0};
  asio::io_context client_io_;
};

TEST_F(TcpServerTest, ServesConnectionsInParallelAndOutlivesAFailedOne) {
  auto server = StartEcho();
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
  tcp::socket first = Connect(server->port());
  tcp::socket second = Connect(server->port());
  EXPECT_EQ(RoundTrip(first, 'a'), 'a');
  EXPECT_EQ(RoundTrip(second, 'b'), 'b');

  tcp::socket failing = Connect(server->port());
  char bang = '!';
  asio::write(failing, asio::buffer(&bang, 1));
  boost::system::error_code ec;
  char byte = 0;
  asio::read(failing, asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof) << "the failed handler's socket closes";
  EXPECT_EQ(RoundTrip(first, 'c'), 'c') << "the others go on";
  tcp::socket later = Connect(server->port());
  EXPECT_EQ(RoundTrip(later, 'd'), 'd') << "and the server accepts";
}

TEST_F(TcpServerTest, StopEndsSuspendedConnectionsAndClosesTheirSockets) {
  auto server = StartEcho();
  ASSERT_TRUE(server);
  tcp::socket client = Connect(server->port());
  EXPECT_EQ(RoundTrip(client, 'x'), 'x');
  EXPECT_EQ(alive_.load(), 1);
  server->Stop();
  EXPECT_EQ(alive_.load(), 0) << "the suspended coroutine's frame is destroyed";
  boost::system::error_code ec;
  char byte = 0;
  asio::read(client, asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  server->Stop();  // idempotent
}

TEST_F(TcpServerTest, AListenErrorNamesTheServerAndTheAddress) {
  auto server = StartEcho(1);
  ASSERT_TRUE(server);
  auto taken = TcpServer::Start({"second", "127.0.0.1", server->port(), 1},
                                [this](tcp::socket s) { return Echo(std::move(s), alive_); });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), StatusCode::kIOError);
  EXPECT_NE(taken.status().message().find("second: cannot listen on " + server->address()),
            std::string::npos)
      << taken.status().ToString();
}

}  // namespace
}  // namespace feilong
