#include "common/metrics_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace feilong::metrics {
namespace {

using ::testing::HasSubstr;

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string content_type;
  long new_connections = 0;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One libcurl handle; reusing it reuses the connection (keep-alive).
class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }

  Response Get(uint16_t port, const std::string& path, const char* method = nullptr) {
    Response r;
    std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Collect);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    r.code = curl_easy_perform(curl_);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    if (curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != nullptr) {
      r.content_type = ct;
    }
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &r.new_connections);
    return r;
  }

 private:
  CURL* curl_;
};

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("feilong_test_total", "Test counter.").Get().Increment(7);
    auto r = MetricsServer::Start("127.0.0.1", 0, registry_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    server_ = std::move(r).value();
    ASSERT_NE(server_->port(), 0);
  }

  Registry registry_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesMetrics) {
  Client c;
  Response r = c.Get(server_->port(), "/metrics");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(r.body, registry_.Render());
  EXPECT_THAT(r.body, HasSubstr("feilong_test_total 7\n"));
}

TEST_F(MetricsServerTest, ReflectsUpdatesBetweenScrapes) {
  Client c;
  registry_.AddGauge("feilong_test_gauge", "g").Get().Set(42);
  Response r = c.Get(server_->port(), "/metrics");
  EXPECT_THAT(r.body, HasSubstr("feilong_test_gauge 42\n"));
}

TEST_F(MetricsServerTest, HealthzAndNotFoundAndMethodNotAllowed) {
  Client c;
  Response health = c.Get(server_->port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
  EXPECT_EQ(c.Get(server_->port(), "/").status, 404);
  EXPECT_EQ(c.Get(server_->port(), "/metricsx").status, 404);
  EXPECT_EQ(c.Get(server_->port(), "/metrics?debug=1").status, 200);
  EXPECT_EQ(c.Get(server_->port(), "/metrics", "POST").status, 405);
}

TEST_F(MetricsServerTest, KeepAliveReusesConnection) {
  Client c;
  Response first = c.Get(server_->port(), "/healthz");
  Response second = c.Get(server_->port(), "/metrics");
  EXPECT_EQ(first.new_connections, 1);
  EXPECT_EQ(second.new_connections, 0);
  EXPECT_EQ(second.status, 200);
}

TEST_F(MetricsServerTest, StopIsIdempotentAndRefusesNewConnections) {
  uint16_t port = server_->port();
  server_->Stop();
  server_->Stop();
  Client c;
  Response r = c.Get(port, "/healthz");
  EXPECT_EQ(r.code, CURLE_COULDNT_CONNECT);
  server_.reset();  // the destructor after Stop is fine too
}

TEST_F(MetricsServerTest, StopClosesIdleConnections) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // A guard against hanging if the server failed to close (not a timing assumption).
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  server_->Stop();
  char buf[16];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  EXPECT_LE(n, 0);
  if (n < 0) {
    EXPECT_EQ(errno, ECONNRESET);
  }
  ::close(fd);
}

TEST_F(MetricsServerTest, PortInUseIsIOError) {
  auto r = MetricsServer::Start("127.0.0.1", server_->port(), registry_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_THAT(r.status().message(), HasSubstr(std::to_string(server_->port())));
}

}  // namespace
}  // namespace feilong::metrics
