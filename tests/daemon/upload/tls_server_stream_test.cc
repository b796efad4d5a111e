#include "daemon/upload/tls_server_stream.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "support/temp_dir.h"

namespace feilong::daemon {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

// scripts/make-certs DIR NAME:127.0.0.1.
void MakeCerts(const std::string& dir, const std::string& name) {
  std::string cmd = "bash " + std::string(FEILONG_SOURCE_DIR) + "/scripts/make-certs " + dir + " " +
                    name + ":127.0.0.1 >> " + dir + "/make.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// The future's value, or a failure after 20 s (never a hung test).
ErrorCode Get(std::future<ErrorCode>& future) {
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "the server side did not finish within 20 s";
    return asio::error::timed_out;
  }
  return future.get();
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  return s;
}

// A blocking OpenSSL client on its own socket.
class Client {
 public:
  Client(const std::string& dir, bool with_certificate, int receive_buffer = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, (dir + "/ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (with_certificate) {
      SSL_CTX_use_certificate_chain_file(ctx_, (dir + "/client.pem").c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, (dir + "/client.key").c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval limit{.tv_sec = 10, .tv_usec = 0};  // a read that never ends fails instead
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
  }
  ~Client() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
    }
    if (fd_ >= 0) {
      ::close(fd_);
    }
    SSL_CTX_free(ctx_);
  }

  // Connects and completes the handshake; false if either fails.
  bool Connect(uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      return false;
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      return false;
    }
    // TLS 1.3: a refused client certificate shows on the first read.
    return true;
  }

  bool Write(const std::string& data) {
    size_t written = 0;
    return SSL_write_ex(ssl_, data.data(), data.size(), &written) == 1 && written == data.size();
  }

  // Reads exactly n bytes, pausing `pause` after each read; "" on failure.
  std::string Read(size_t n, std::chrono::milliseconds pause = {}) {
    std::string out;
    char buffer[16384];
    while (out.size() < n) {
      size_t got = 0;
      if (SSL_read_ex(ssl_, buffer, std::min(sizeof buffer, n - out.size()), &got) != 1) {
        ERR_clear_error();
        return {};
      }
      out.append(buffer, got);
      std::this_thread::sleep_for(pause);
    }
    return out;
  }

  // Closes the socket; unread bytes in it make the kernel reset the connection.
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

class TlsServerStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCerts(dir_.path(), "server");
    MakeCerts(dir_.path(), "client");
    context_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    context_->load_verify_file(dir_.Path("ca.pem"));
    context_->use_certificate_chain_file(dir_.Path("server.pem"));
    context_->use_private_key_file(dir_.Path("server.key"), asio::ssl::context::pem);
    context_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::address_v4::loopback(), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  }

  void TearDown() override {
    io_.stop();
    if (runner_.joinable()) {
      runner_.join();
    }
  }

  // Runs `serve` on the accepted connection's TlsServerStream, on the io
  // thread; the future holds what it returned.
  template <typename Handler>
  std::future<ErrorCode> Serve(Handler serve) {
    auto future = asio::co_spawn(
        io_,
        [this, serve]() -> asio::awaitable<ErrorCode> {
          tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
          socket.non_blocking(true);
          TlsServerStream stream(socket, context_);
          if (ErrorCode error = co_await stream.Handshake()) {
            co_return error;
          }
          co_return co_await serve(stream);
        },
        asio::use_future);
    runner_ = std::thread([this] {
      sigset_t pipe;  // as the piece server's threads do (see the header)
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      io_.run();
    });
    return future;
  }

  test::TempDir dir_;
  std::shared_ptr<asio::ssl::context> context_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread runner_;
};

TEST_F(TlsServerStreamTest, ReadsARequestAndWritesALargeReplyToASlowReader) {
  const std::string reply = Pattern(3 << 20);
  auto served = Serve([&reply](TlsServerStream& stream) -> asio::awaitable<ErrorCode> {
    char request[5];
    auto [read_error, got] = co_await asio::async_read(stream, asio::buffer(request),
                                                       asio::as_tuple(asio::use_awaitable));
    if (read_error) {
      co_return read_error;
    }
    if (std::string(request, got) != "hello") {
      co_return asio::error::invalid_argument;
    }
    // Both halves, so a write starts while the buffer may hold the last one's tail.
    if (ErrorCode error = co_await stream.WriteAll(asio::buffer(reply.data(), reply.size() / 2))) {
      co_return error;
    }
    co_return co_await stream.WriteAll(
        asio::buffer(reply.data() + reply.size() / 2, reply.size() - reply.size() / 2));
  });
  // A small receive buffer and pauses: the server's socket fills up, so
  // its writes and flushes wait for room again and again.
  Client client(dir_.path(), true, 16 << 10);
  ASSERT_TRUE(client.Connect(port_));
  ASSERT_TRUE(client.Write("hello"));
  std::string first = client.Read(256 << 10, std::chrono::milliseconds(1));
  std::string rest = client.Read(reply.size() - first.size());
  EXPECT_TRUE(first + rest == reply);
  EXPECT_FALSE(Get(served));
}

TEST_F(TlsServerStreamTest, AClientWithoutACertificateFailsTheHandshake) {
  auto served =
      Serve([](TlsServerStream&) -> asio::awaitable<ErrorCode> { co_return ErrorCode(); });
  Client client(dir_.path(), false);
  client.Connect(port_);  // TLS 1.3: the client may finish before the server refuses
  ErrorCode error = Get(served);
  EXPECT_TRUE(error);
  EXPECT_EQ(error.category(), asio::error::get_ssl_category()) << error.message();
}

TEST_F(TlsServerStreamTest, APeerThatGoesAwayEndsReadsAndWritesWithAnError) {
  const std::string reply = Pattern(8 << 20);
  auto served = Serve([&reply](TlsServerStream& stream) -> asio::awaitable<ErrorCode> {
    co_return co_await stream.WriteAll(asio::buffer(reply));
  });
  Client client(dir_.path(), true, 16 << 10);
  ASSERT_TRUE(client.Connect(port_));
  ASSERT_FALSE(client.Read(64 << 10).empty());
  client.Close();
  EXPECT_TRUE(Get(served));

  auto read = asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<ErrorCode> {
        tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
        socket.non_blocking(true);
        TlsServerStream stream(socket, context_);
        if (ErrorCode error = co_await stream.Handshake()) {
          co_return error;
        }
        char byte;
        auto [error, got] = co_await stream.async_read_some(asio::buffer(&byte, 1),
                                                            asio::as_tuple(asio::use_awaitable));
        co_return error;
      },
      asio::use_future);
  Client second(dir_.path(), true);
  ASSERT_TRUE(second.Connect(port_));
  second.Close();
  // A reset when the client's close found unread bytes (TLS 1.3 session tickets).
  ErrorCode read_error = Get(read);
  EXPECT_TRUE(read_error == asio::error::eof || read_error == asio::error::connection_reset)
      << read_error.message();
}

}  // namespace
}  // namespace feilong::daemon
