// HttpProxy in process: a fake fetcher that fills a real piece store, raw
// HTTP clients on loopback. The real-origin paths (forwarding, tunnels,
// interception) are in tests/integration/proxy_test.cc.
#include "proxy/http_proxy.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "common/digest.h"
#include "common/task_id.h"
#include "source/url.h"
#include "storage/piece_store.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"

namespace feilong::proxy {
namespace {

constexpr uint32_t kPieceLength = 1000;

// Serves `content` for every URL containing "/good/": creates the task,
// writes its pieces and reports progress; fails others with NotFound.
class FakeFetcher final : public UrlFetcher {
 public:
  FakeFetcher(storage::PieceStore& store, std::string content)
      : store_(store), content_(std::move(content)) {}

  Result<std::string> Start(const UrlFetchRequest& request,
                            std::function<void(const FetchProgress&)> on_progress) override {
    {
      std::lock_guard lock(mutex_);
      urls_.push_back(request.url);
    }
    const std::string task_id = UrlTaskId(request.url, "", "", 0);
    FetchProgress p;
    if (request.url.find("/good/") == std::string::npos) {
      p.done = true;
      p.status = Status::NotFound("origin answered 404");
      on_progress(p);
      return task_id;
    }
    storage::TaskMeta meta;
    meta.task_id = task_id;
    meta.url = request.url;
    meta.content_length = content_.size();
    meta.piece_length = kPieceLength;
    FL_RETURN_IF_ERROR(store_.CreateTask(meta));
    p.content_length_known = true;
    p.content_length = content_.size();
    on_progress(p);
    for (uint32_t n = 0; n < meta.PieceCount(); ++n) {
      FL_ASSIGN_OR_RETURN(auto writer, store_.OpenPieceWriter(task_id, n));
      std::string_view piece = std::string_view(content_).substr(meta.PieceOffset(n), kPieceLength);
      FL_RETURN_IF_ERROR(writer->Append(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(piece.data()), piece.size())));
      FL_RETURN_IF_ERROR(writer->Commit(std::nullopt).status());
    }
    p.bytes_from_peers = content_.size();
    p.done = true;
    on_progress(p);
    return task_id;
  }

  std::vector<std::string> urls() {
    std::lock_guard lock(mutex_);
    return urls_;
  }

 private:
  storage::PieceStore& store_;
  std::string content_;
  std::mutex mutex_;
  std::vector<std::string> urls_;
};

class HttpProxyTest : public ::testing::Test {
 protected:
  void Start(uint32_t max_connections = 16) {
    storage::StoreOptions options;
    options.dir = dir_.Path("store");
    auto store = storage::PieceStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    fetcher_ = std::make_unique<FakeFetcher>(*store_, test::RandomBytes(4321, 5));
    ProxyConfig config;
    config.enabled = true;
    config.listen = "127.0.0.1:0";
    config.rules = {"/(good|bad)/"};
    config.max_connections = max_connections;
    config.io_timeout = std::chrono::seconds(5);
    ASSERT_TRUE(ValidateProxyConfig(config).ok());
    auto proxy = HttpProxy::Start(config, *fetcher_, *store_);
    ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
    proxy_ = std::move(*proxy);
  }

  // A closed port on loopback: forwarded requests fail fast with 502.
  std::string Base() const { return "http://127.0.0.1:" + std::to_string(closed_port_); }

  uint16_t closed_port_ = test::FreeTcpPort();
  test::TempDir dir_;
  std::unique_ptr<storage::PieceStore> store_;
  std::unique_ptr<FakeFetcher> fetcher_;
  std::unique_ptr<HttpProxy> proxy_;
};

TEST_F(HttpProxyTest, MatchingGetIsServedFromThePieceStore) {
  Start();
  auto connection = test::RawHttpConnection::Connect(proxy_->port());
  ASSERT_TRUE(connection.ok());
  // Two requests on one connection: keep-alive works after a P2P body.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(connection
                    ->Send("GET " + Base() +
                           "/good/file?x=1 HTTP/1.1\r\nHost: origin.test\r\n"
                           "Proxy-Connection: keep-alive\r\n\r\n")
                    .ok());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("content-length"), "4321");
    EXPECT_EQ(response->body, test::RandomBytes(4321, 5));
  }
  ASSERT_EQ(fetcher_->urls().size(), 2u);
  EXPECT_EQ(fetcher_->urls()[0], Base() + "/good/file?x=1");
  // The counters move after each write completes, which the client may
  // see first: wait a moment for the last one.
  ProxyStats stats;
  for (int i = 0; i < 200; ++i) {
    stats = proxy_->stats();
    if (stats.p2p_bytes == 2u * 4321) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats.p2p, 2u);
  EXPECT_EQ(stats.p2p_bytes, 2u * 4321);
}

TEST_F(HttpProxyTest, AFailedDownloadGetsTheOriginsStatus) {
  Start();
  auto response = test::RawHttpRequest(proxy_->port(), "GET", Base() + "/bad/file");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("404"), std::string::npos) << response->body;
}

TEST_F(HttpProxyTest, OneRangeIsServedFromThePieceStore) {
  Start();
  const std::string content = test::RandomBytes(4321, 5);
  auto connection = test::RawHttpConnection::Connect(proxy_->port());
  ASSERT_TRUE(connection.ok());
  struct Case {
    std::string range;
    std::string content_range;
    std::string body;
  };
  // Across piece boundaries (pieces of 1000), a suffix, an open end.
  const std::vector<Case> cases = {
      {"bytes=100-2099", "bytes 100-2099/4321", content.substr(100, 2000)},
      {"bytes=-21", "bytes 4300-4320/4321", content.substr(4300)},
      {"bytes=3999-", "bytes 3999-4320/4321", content.substr(3999)},
      {"bytes=0-0", "bytes 0-0/4321", content.substr(0, 1)},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(connection
                    ->Send("GET " + Base() + "/good/file HTTP/1.1\r\nHost: origin.test\r\nRange: " +
                           c.range + "\r\n\r\n")
                    .ok());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 206) << c.range;
    EXPECT_EQ(response->Header("content-range"), c.content_range);
    EXPECT_EQ(response->Header("content-type"), "application/octet-stream");
    EXPECT_EQ(response->body, c.body) << c.range;
  }
  // Past the end: 416 naming the length, and the connection stays usable.
  ASSERT_TRUE(connection
                  ->Send("GET " + Base() +
                         "/good/file HTTP/1.1\r\nHost: origin.test\r\nRange: bytes=4321-\r\n\r\n")
                  .ok());
  auto past = connection->ReadResponse();
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_EQ(past->status, 416);
  EXPECT_EQ(past->Header("content-range"), "bytes */4321");
  EXPECT_TRUE(past->body.empty());
  ASSERT_TRUE(
      connection->Send("GET " + Base() + "/good/file HTTP/1.1\r\nHost: origin.test\r\n\r\n").ok());
  auto whole = connection->ReadResponse();
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->Header("content-type"), "application/octet-stream");
  EXPECT_EQ(whole->body, content);
  EXPECT_EQ(fetcher_->urls().size(), cases.size() + 2);
  EXPECT_EQ(proxy_->stats().forwarded, 0u);
}

TEST_F(HttpProxyTest, BodiesAreForwardedNeverP2P) {
  Start();
  // A GET with a body, a POST and a chunked PUT of matching URLs: forwarded
  // (a closed port: 502), the fetcher never saw them, and an answer before
  // the body was read closes the connection.
  for (std::string request :
       {"GET " + Base() + "/good/file HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "POST " + Base() + "/good/file HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "PUT " + Base() +
            "/good/file HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Expect: 100-continue\r\n\r\n"}) {
    auto connection = test::RawHttpConnection::Connect(proxy_->port(), std::chrono::seconds(20));
    ASSERT_TRUE(connection.ok());
    ASSERT_TRUE(connection->Send(request).ok());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    // No 100 Continue first: the upstream was never reached.
    EXPECT_EQ(response->status, 502) << request;
    EXPECT_EQ(response->Header("connection"), "close") << request;
    EXPECT_TRUE(connection->ServerClosed()) << request;
  }
  EXPECT_TRUE(fetcher_->urls().empty());
  EXPECT_EQ(proxy_->stats().forwarded, 3u);
}

TEST_F(HttpProxyTest, RangesThePiecesCannotAnswerAndCredentialsAreNotP2P) {
  Start();
  // Forwarded to a closed port: 502 from the proxy,
  // and the fetcher never saw the request.
  for (const char* header :
       {"Range: bytes=0-1,5-6", "Range: items=0-1", "Range: bytes=0-1\r\nIf-Range: \"v1\"",
        "Authorization: Bearer t", "Cookie: a=b"}) {
    auto connection = test::RawHttpConnection::Connect(proxy_->port(), std::chrono::seconds(20));
    ASSERT_TRUE(connection.ok());
    ASSERT_TRUE(connection
                    ->Send("GET " + Base() +
                           "/good/file HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n" +
                           header + "\r\n\r\n")
                    .ok());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 502) << header;
  }
  EXPECT_TRUE(fetcher_->urls().empty());
  EXPECT_EQ(proxy_->stats().forwarded, 5u);
}

TEST_F(HttpProxyTest, ConnectionsOverTheLimitGet503) {
  Start(/*max_connections=*/1);
  auto held = test::RawHttpConnection::Connect(proxy_->port());
  ASSERT_TRUE(held.ok());
  // The held connection is being served (it has sent nothing yet), so a
  // second one is over the limit. Accepting is asynchronous: wait until the
  // proxy counted the first.
  Result<test::RawHttpResponse> second = Status::Internal("unset");
  for (int attempt = 0; attempt < 50; ++attempt) {
    second = test::RawHttpRequest(proxy_->port(), "GET", Base() + "/good/file");
    if (second.ok() && second->status == 503) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->status, 503);
  // The held connection still works.
  ASSERT_TRUE(held->Send("GET " + Base() + "/good/f HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  auto response = held->ReadResponse();
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpProxyTest, ConnectTunnelsBytesBothWays) {
  Start();
  // The tunnel's far end is the proxy itself: a request sent through the
  // tunnel is answered by a second connection of the proxy.
  auto connection = test::RawHttpConnection::Connect(proxy_->port());
  ASSERT_TRUE(connection.ok());
  const std::string self = "127.0.0.1:" + std::to_string(proxy_->port());
  ASSERT_TRUE(connection->Send("CONNECT " + self + " HTTP/1.1\r\nHost: " + self + "\r\n\r\n").ok());
  auto established = connection->ReadResponse();
  ASSERT_TRUE(established.ok()) << established.status().ToString();
  EXPECT_EQ(established->status, 200);
  ASSERT_TRUE(
      connection->Send("GET " + Base() + "/good/tunneled HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  auto response = connection->ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, test::RandomBytes(4321, 5));
  EXPECT_EQ(proxy_->stats().tunnels, 1u);

  // A CONNECT to a closed port: 502, and nothing else is served on it.
  auto closed =
      test::RawHttpRequest(proxy_->port(), "CONNECT", "127.0.0.1:" + std::to_string(closed_port_));
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(closed->status, 502);
}

TEST_F(HttpProxyTest, StopEndsOpenConnections) {
  Start();
  auto idle = test::RawHttpConnection::Connect(proxy_->port());
  ASSERT_TRUE(idle.ok());
  proxy_->Stop();
  EXPECT_TRUE(idle->ServerClosed());
  proxy_->Stop();  // idempotent
}

}  // namespace
}  // namespace feilong::proxy
