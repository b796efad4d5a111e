#include "source/curl_transfer.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace feilong::source {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Listens on 127.0.0.1, answers one GET with a 200 whose body goes out in
// `chunks`, pausing `pause` before each chunk after the first.
class ChunkedSender {
 public:
  ChunkedSender(std::vector<size_t> chunks, milliseconds pause) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(listener_, 1), 0);
    EXPECT_EQ(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    size_t total = 0;
    for (size_t chunk : chunks) {
      total += chunk;
    }
    thread_ = std::thread([this, chunks, pause, total] {
      int fd = ::accept(listener_, nullptr, nullptr);
      char request[4096];
      (void)::recv(fd, request, sizeof(request), 0);
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n";
      Send(fd, head);
      for (size_t i = 0; i < chunks.size(); ++i) {
        if (i > 0) {
          std::this_thread::sleep_for(pause);
        }
        Send(fd, std::string(chunks[i], 'x'));
      }
      char drain[64];
      (void)::recv(fd, drain, sizeof(drain), 0);  // until the client closes
      ::close(fd);
    });
  }
  ~ChunkedSender() {
    thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  static void Send(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      sent += static_cast<size_t>(n);
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Body callbacks: when each came (after the start) and how many bytes it had.
struct Delivery {
  milliseconds at;
  size_t bytes;
};

std::vector<Delivery> Fetch(uint16_t port, int low_water) {
  std::vector<Delivery> deliveries;
  CurlHandle handle;
  CurlRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  request.receive_low_water = low_water;
  const auto start = steady_clock::now();
  CurlOutcome outcome = PerformGet(
      handle, request, [](const CurlResponseHead&) { return Status::Ok(); },
      [&](std::span<const uint8_t> data) {
        deliveries.push_back(
            {std::chrono::duration_cast<milliseconds>(steady_clock::now() - start), data.size()});
        return Status::Ok();
      },
      SteadyClock::Default());
  EXPECT_EQ(outcome.curl_code, 0) << outcome.error;
  return deliveries;
}

size_t BytesBefore(const std::vector<Delivery>& deliveries, milliseconds t) {
  size_t bytes = 0;
  for (const Delivery& d : deliveries) {
    if (d.at < t) {
      bytes += d.bytes;
    }
  }
  return bytes;
}

// The body comes as 8 KiB, then 40 KiB after 400 ms, then the last 100 KiB
// after 800 ms. Without a mark the 40 KiB are handed over when they come;
// with a 64 KiB mark nothing follows the first bytes until the mark is
// reached or the body is nearly done, which here is after the last pause.
TEST(CurlTransferTest, ALowWaterMarkHoldsSmallReadsBack) {
  const std::vector<size_t> chunks{8 * 1024, 40 * 1024, 100 * 1024};
  const milliseconds pause(400);
  std::vector<Delivery> plain;
  {
    ChunkedSender sender(chunks, pause);
    plain = Fetch(sender.port(), 0);
  }
  std::vector<Delivery> marked;
  {
    ChunkedSender sender(chunks, pause);
    marked = Fetch(sender.port(), 64 * 1024);
  }
  const size_t total = 148 * 1024;
  size_t plain_total = 0;
  size_t marked_total = 0;
  for (const Delivery& d : plain) {
    plain_total += d.bytes;
  }
  for (const Delivery& d : marked) {
    marked_total += d.bytes;
  }
  EXPECT_EQ(plain_total, total);
  EXPECT_EQ(marked_total, total);
  // Just before the last chunk is sent (800 ms).
  EXPECT_EQ(BytesBefore(plain, milliseconds(750)), 48u * 1024);
  EXPECT_EQ(BytesBefore(marked, milliseconds(750)), 8u * 1024);
}

}  // namespace
}  // namespace feilong::source
