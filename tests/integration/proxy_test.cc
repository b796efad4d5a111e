// fld's HTTP proxy end to end with real parts on loopback: nginx origins
// (http and https), flsched, a seed and two fld peers with the proxy on,
// curl as the client; a test CA made with the openssl command for the
// intercepted host.
//
// Every test skips with a message when a tool is missing, bounds each
// command's time, and stops every process it started (ChildProcess
// destructors) also when an assertion fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "common/digest.h"
#include "integration/cluster.h"
#include "integration/process.h"
#include "support/nginx_origin.h"
#include "support/raw_http.h"
#include "support/temp_dir.h"

namespace feilong::testing {
namespace {

using std::chrono::seconds;
constexpr size_t kMiB = 1024 * 1024;

bool Installed(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

#define SKIP_WITHOUT_TOOLS()                                                            \
  do {                                                                                  \
    for (const char* tool : {"/usr/sbin/nginx", "/usr/bin/curl", "/usr/bin/openssl"}) { \
      if (!Installed(tool)) {                                                           \
        GTEST_SKIP() << tool << " is not installed (scripts/install-deps installs it)"; \
      }                                                                                 \
    }                                                                                   \
  } while (0)

std::string FileDigest(const std::string& path) {
  auto d = Sha256File(path);
  return d.ok() ? Sha256String(*d) : "missing: " + d.status().ToString();
}

int CountLines(const std::string& log, const std::regex& pattern) {
  return static_cast<int>(
      std::distance(std::sregex_iterator(log.begin(), log.end(), pattern), std::sregex_iterator()));
}

// The proxy port of a started daemon, from its log.
uint16_t ProxyPort(Cluster::Node& node) {
  auto line = node.process->WaitForLine("proxy: listening", seconds(10));
  if (!line) {
    return 0;
  }
  std::smatch m;
  static const std::regex kAddress("address=[^ ]*:([0-9]+)");
  if (!std::regex_search(*line, m, kAddress)) {
    return 0;
  }
  return static_cast<uint16_t>(std::stoi(m[1]));
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_TOOLS();
    const std::string root = work_.Path("www");
    ASSERT_EQ(
        Shell("mkdir -p " + root + "/p2p " + root + "/plain", work_.Path("mkdir.log")).exit_code,
        0);
    // Several 4 MiB pieces, and a tail.
    ASSERT_TRUE(test::WriteRandomFile(root + "/p2p/big.bin", 9 * kMiB + 123, 7).ok());
    ASSERT_TRUE(test::WriteRandomFile(root + "/p2p/secure.bin", 5 * kMiB + 7, 8).ok());
    ASSERT_TRUE(test::WriteRandomFile(root + "/p2p/range.bin", 9 * kMiB + 321, 9).ok());
    ASSERT_TRUE(test::WriteFile(root + "/plain/small.txt", "forwarded, not P2P\n").ok());
    // Request bodies land in files the tests compare: PUT /upload/<name>
    // stores <name> (WebDAV); POST /post/<name> is turned into a PUT of
    // /upload/post/<name> by nginx itself.
    const std::string uploads =
        "location /upload/ { dav_methods PUT; create_full_put_path on; "
        "client_max_body_size 0; }\n"
        "    location /post/ { client_max_body_size 0; proxy_method PUT; "
        "proxy_pass $scheme://127.0.0.1:$server_port/upload$uri; }";
    auto http = test::NginxOrigin::Start({.root = root, .extra_server_config = uploads});
    ASSERT_TRUE(http.ok()) << http.status().ToString();
    http_ = std::move(*http);
    auto https =
        test::NginxOrigin::Start({.root = root, .extra_server_config = uploads, .tls = true});
    ASSERT_TRUE(https.ok()) << https.status().ToString();
    https_ = std::move(*https);

    // The CA the proxy signs intercepted hosts' certificates with; nginx's
    // own certificate is self-signed (another CA), trusted by the daemons
    // through download.origin.ca_file and proxy.origin_ca_file.
    ca_cert_ = work_.Path("proxy-ca.pem");
    ca_key_ = work_.Path("proxy-ca.key");
    CommandResult ca = Shell(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
        "'/CN=feilong test proxy CA' -keyout " +
            ca_key_ + " -out " + ca_cert_,
        work_.Path("ca.log"));
    ASSERT_EQ(ca.exit_code, 0) << ca.output;

    const std::string config = work_.Path("fld-proxy.yaml");
    ASSERT_TRUE(test::WriteFile(config, "download:\n  origin: {ca_file: " + https_->cert_path() +
                                            "}\n"
                                            "proxy:\n"
                                            "  enabled: true\n"
                                            "  listen: 127.0.0.1:0\n"
                                            "  io_timeout: 20s\n"
                                            "  rules: ['/p2p/']\n"
                                            "  origin_ca_file: " +
                                            https_->cert_path() +
                                            "\n"
                                            "  hijack_https:\n"
                                            "    ca_cert: " +
                                            ca_cert_ + "\n    ca_key: " + ca_key_ +
                                            "\n    hosts: ['^127\\.0\\.0\\.1$']\n")
                    .ok());
    cluster_ =
        std::make_unique<Cluster>(ClusterOptions{.peers = 2, .fld_args = {"--config", config}});
    ASSERT_TRUE(cluster_->Start());
    for (int i = 0; i < 2; ++i) {
      uint16_t port = ProxyPort(cluster_->peer(i));
      ASSERT_NE(port, 0) << cluster_->peer(i).process->Log();
      proxies_.push_back(port);
    }
  }

  // curl through peer `peer`'s proxy; the status code (0 when curl failed),
  // the body in `out`.
  int Curl(int peer, const std::string& url, const std::string& out,
           const std::string& extra = "") {
    CommandResult r = Shell(
        "curl -sS --max-time 60 -x http://127.0.0.1:" + std::to_string(proxies_.at(peer)) + " -o " +
            out + " -w '%{http_code}' " + extra + " '" + url + "' > " + out + ".code",
        out + ".log", seconds(90));
    last_curl_ = r;
    std::string code = Slurp(out + ".code");
    return r.exit_code == 0 && !code.empty() ? std::stoi(code) : 0;
  }

  std::string Log(int peer) { return cluster_->peer(peer).process->Log(); }

  test::TempDir work_;
  test::TempDir out_;
  std::unique_ptr<test::NginxOrigin> http_;
  std::unique_ptr<test::NginxOrigin> https_;
  std::string ca_cert_;
  std::string ca_key_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<uint16_t> proxies_;
  CommandResult last_curl_;
};

TEST_F(ProxyTest, MatchingGetGoesP2PAndTheSecondDaemonTakesItFromPeers) {
  const std::string url = http_->Url("/p2p/big.bin");
  const std::string expected = FileDigest(work_.Path("www/p2p/big.bin"));
  ASSERT_EQ(Curl(0, url, out_.Path("big0")), 200) << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(out_.Path("big0")), expected);
  const uint64_t origin_gets = http_->RequestCount("/p2p/big.bin");
  EXPECT_GT(origin_gets, 0u);

  ASSERT_EQ(Curl(1, url, out_.Path("big1")), 200) << last_curl_.output << Log(1);
  EXPECT_EQ(FileDigest(out_.Path("big1")), expected);
  // The second daemon took every byte from peers: no new origin request.
  EXPECT_EQ(http_->RequestCount("/p2p/big.bin"), origin_gets);
  std::string log1 = Log(1);
  static const std::regex kFromPeers(
      "proxy_p2p_served url=http://127\\.0\\.0\\.1:[0-9]+/p2p/big\\.bin bytes=9437307 "
      "from_cache=0 from_peers=[0-9]+ from_origin=0");
  EXPECT_EQ(CountLines(log1, kFromPeers), 1) << log1;
  static const std::regex kLogged(
      "proxy_request method=GET url=http://127\\.0\\.0\\.1:[0-9]+/p2p/big\\.bin route=p2p "
      "status=200 bytes=9437307");
  EXPECT_EQ(CountLines(log1, kLogged), 1) << log1;

  // Served again from the cache of the first daemon.
  ASSERT_EQ(Curl(0, url, out_.Path("big0-again")), 200);
  EXPECT_EQ(FileDigest(out_.Path("big0-again")), expected);
  EXPECT_EQ(http_->RequestCount("/p2p/big.bin"), origin_gets);
}

TEST_F(ProxyTest, OneRangeOfAMatchingUrlIsServedFromPieces) {
  const std::string url = http_->Url("/p2p/range.bin");
  const std::string content = Slurp(work_.Path("www/p2p/range.bin"));
  ASSERT_EQ(content.size(), 9 * kMiB + 321);
  // The first request of the URL is a range across a piece boundary
  // (pieces of 4 MiB): it starts the download and is answered from the
  // pieces as they arrive.
  ASSERT_EQ(Curl(0, url, out_.Path("middle"), "-r 4000000-4999999"), 206)
      << last_curl_.output << Log(0);
  EXPECT_EQ(Slurp(out_.Path("middle")), content.substr(4000000, 1000000));
  ASSERT_EQ(Curl(0, url, out_.Path("suffix"), "-r -100"), 206) << last_curl_.output;
  EXPECT_EQ(Slurp(out_.Path("suffix")), content.substr(content.size() - 100));
  std::string log = Log(0);
  static const std::regex kRangeP2P(
      "proxy_request method=GET url=http://127\\.0\\.0\\.1:[0-9]+/p2p/range\\.bin route=p2p "
      "status=206 bytes=1000000");
  EXPECT_EQ(CountLines(log, kRangeP2P), 1) << log;
  EXPECT_NE(log.find("range=4000000-4999999"), std::string::npos) << log;
  // Past the end: 416 from the proxy.
  EXPECT_EQ(Curl(0, url, out_.Path("past"), "-r 99999999-"), 416) << last_curl_.output;
  log = Log(0);
  EXPECT_NE(log.find("route=p2p status=416"), std::string::npos) << log;
  // Several ranges: the pieces do not answer those, the origin does.
  EXPECT_EQ(Curl(0, url, out_.Path("multi"), "-r 0-1,5-6"), 206) << last_curl_.output;
  log = Log(0);
  static const std::regex kMultiForwarded(
      "proxy_request method=GET url=http://127\\.0\\.0\\.1:[0-9]+/p2p/range\\.bin "
      "route=forward status=206");
  EXPECT_EQ(CountLines(log, kMultiForwarded), 1) << log;
  const std::string multi = Slurp(out_.Path("multi"));
  EXPECT_NE(multi.find("Content-Range: bytes 5-6/"), std::string::npos) << multi;
  // The whole body after the ranges: the same task, the same bytes.
  ASSERT_EQ(Curl(0, url, out_.Path("whole")), 200) << last_curl_.output;
  EXPECT_EQ(FileDigest(out_.Path("whole")), FileDigest(work_.Path("www/p2p/range.bin")));
}

TEST_F(ProxyTest, RequestBodiesReachTheOriginIntact) {
  const std::string file = out_.Path("upload.bin");
  ASSERT_TRUE(test::WriteRandomFile(file, 6 * kMiB + 5, 11).ok());
  const std::string expected = FileDigest(file);
  // PUT with a Content-Length, curl waiting for the 100 Continue it asks for.
  ASSERT_EQ(Curl(0, http_->Url("/upload/put.bin"), out_.Path("put"),
                 "-v -H 'Expect: 100-continue' -T " + file),
            201)
      << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(work_.Path("www/upload/put.bin")), expected);
  EXPECT_NE(last_curl_.output.find("HTTP/1.1 100 Continue"), std::string::npos)
      << last_curl_.output;
  // POST with a Content-Length (nginx stores it through a PUT of its own).
  ASSERT_EQ(Curl(0, http_->Url("/post/post.bin"), out_.Path("post"), "--data-binary @" + file), 201)
      << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(work_.Path("www/upload/post/post.bin")), expected);
  // A chunked body of unknown length (stdin): re-chunked to the origin.
  ASSERT_EQ(Curl(0, http_->Url("/upload/chunked.bin"), out_.Path("chunked"),
                 "-H 'Transfer-Encoding: chunked' -T - < " + file),
            201)
      << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(work_.Path("www/upload/chunked.bin")), expected);
  // A POST inside an intercepted https connection.
  ASSERT_EQ(Curl(0, https_->Url("/post/secure.bin"), out_.Path("secure-post"),
                 "--cacert " + ca_cert_ + " --data-binary @" + file),
            201)
      << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(work_.Path("www/upload/post/secure.bin")), expected);
  std::string log = Log(0);
  static const std::regex kForwarded(
      "method=(PUT|POST) url=https?://127\\.0\\.0\\.1:[0-9]+/"
      "(upload|post)/[a-z./]+ route=forward status=201");
  EXPECT_EQ(CountLines(log, kForwarded), 4) << log;

  // Keep-alive after a body: a PUT, then a GET of what it stored, on one
  // connection.
  {
    auto connection = test::RawHttpConnection::Connect(proxies_[0], seconds(20));
    ASSERT_TRUE(connection.ok());
    ASSERT_TRUE(connection
                    ->Send("PUT " + http_->Url("/upload/small.txt") +
                           " HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nhello\n")
                    .ok());
    auto put = connection->ReadResponse();
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(put->status, 201);
    ASSERT_TRUE(
        connection->Send("GET " + http_->Url("/upload/small.txt") + " HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok());
    auto get = connection->ReadResponse();
    ASSERT_TRUE(get.ok()) << get.status().ToString();
    EXPECT_EQ(get->status, 200);
    EXPECT_EQ(get->body, "hello\n");
  }

  // A client that goes away mid-body: the origin's request is cut, nothing
  // is stored, the daemon keeps serving.
  {
    auto connection = test::RawHttpConnection::Connect(proxies_[0]);
    ASSERT_TRUE(connection.ok());
    ASSERT_TRUE(connection
                    ->Send("PUT " + http_->Url("/upload/cut.bin") +
                           " HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n" +
                           std::string(kMiB, 'x'))
                    .ok());
  }
  EXPECT_TRUE(
      cluster_->peer(0).process->WaitForLine("proxy_request_body_aborted", seconds(20)).has_value())
      << Log(0);
  ASSERT_EQ(Curl(0, http_->Url("/plain/small.txt"), out_.Path("after")), 200);
  EXPECT_EQ(::access(work_.Path("www/upload/cut.bin").c_str(), F_OK), -1);
}

TEST_F(ProxyTest, NonMatchingUrlIsForwarded) {
  ASSERT_EQ(Curl(0, http_->Url("/plain/small.txt?sig=secret"), out_.Path("small")), 200)
      << last_curl_.output;
  EXPECT_EQ(Slurp(out_.Path("small")), "forwarded, not P2P\n");
  EXPECT_EQ(http_->RequestCount("/plain/small.txt"), 1u);
  EXPECT_EQ(Curl(0, http_->Url("/plain/missing.txt"), out_.Path("missing")), 404);
  // HEAD of a matching URL is forwarded too (only GET goes P2P).
  EXPECT_EQ(Curl(0, http_->Url("/p2p/big.bin"), out_.Path("head"), "-I"), 200);
  EXPECT_EQ(http_->RequestCount("HEAD /p2p/big.bin"), 1u);
  std::string log = Log(0);
  EXPECT_NE(log.find("route=forward status=200 bytes=19"), std::string::npos) << log;
  EXPECT_NE(log.find("route=forward status=404"), std::string::npos) << log;
  // No query string reaches a log line.
  EXPECT_EQ(log.find("sig=secret"), std::string::npos);
}

TEST_F(ProxyTest, ConnectToAnotherHostIsATunnel) {
  // "localhost" matches no hijack rule: the proxy copies bytes, curl speaks
  // HTTP to nginx through the tunnel (-p: CONNECT even for http).
  const std::string url = "http://localhost:" + std::to_string(http_->port()) + "/p2p/big.bin";
  ASSERT_EQ(Curl(0, url, out_.Path("tunneled"), "-p"), 200) << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(out_.Path("tunneled")), FileDigest(work_.Path("www/p2p/big.bin")));
  EXPECT_EQ(http_->RequestCount("/p2p/big.bin"), 1u);
  // TLS end to end through a tunnel: nginx's own certificate reaches curl.
  const std::string tls_url =
      "https://localhost:" + std::to_string(https_->port()) + "/plain/small.txt";
  ASSERT_EQ(Curl(0, tls_url, out_.Path("tls-tunneled"),
                 "-k --cacert " + https_->cert_path()),  // the cert names 127.0.0.1 only
            200)
      << last_curl_.output;
  EXPECT_EQ(Slurp(out_.Path("tls-tunneled")), "forwarded, not P2P\n");
  std::string log = Log(0);
  static const std::regex kTunnel("method=CONNECT url=localhost:[0-9]+ route=tunnel status=200");
  EXPECT_EQ(CountLines(log, kTunnel), 2) << log;
  // A closed port: 502 to the CONNECT.
  EXPECT_EQ(Curl(0, "http://localhost:" + std::to_string(test::FreeTcpPort()) + "/",
                 out_.Path("closed"), "-p"),
            0);
  EXPECT_NE(last_curl_.output.find("502"), std::string::npos) << last_curl_.output;
}

TEST_F(ProxyTest, InterceptedHostGoesP2POverTls) {
  const std::string url = https_->Url("/p2p/secure.bin");
  const std::string expected = FileDigest(work_.Path("www/p2p/secure.bin"));
  ASSERT_EQ(Curl(0, url, out_.Path("secure0"), "--cacert " + ca_cert_), 200)
      << last_curl_.output << Log(0);
  EXPECT_EQ(FileDigest(out_.Path("secure0")), expected);
  const uint64_t origin_gets = https_->RequestCount("/p2p/secure.bin");
  EXPECT_GT(origin_gets, 0u);
  ASSERT_EQ(Curl(1, url, out_.Path("secure1"), "--cacert " + ca_cert_), 200)
      << last_curl_.output << Log(1);
  EXPECT_EQ(FileDigest(out_.Path("secure1")), expected);
  EXPECT_EQ(https_->RequestCount("/p2p/secure.bin"), origin_gets);
  std::string log1 = Log(1);
  static const std::regex kFromPeers(
      "proxy_p2p_served url=https://127\\.0\\.0\\.1:[0-9]+/p2p/secure\\.bin bytes=5242887 "
      "from_cache=0 from_peers=[0-9]+ from_origin=0");
  EXPECT_EQ(CountLines(log1, kFromPeers), 1) << log1;
  static const std::regex kHijack("method=CONNECT url=127\\.0\\.0\\.1:[0-9]+ route=hijack");
  EXPECT_EQ(CountLines(log1, kHijack), 1) << log1;

  // The certificate the client saw is the proxy's, not nginx's: trusting
  // only nginx's fails.
  EXPECT_EQ(Curl(0, url, out_.Path("wrong-ca"), "--cacert " + https_->cert_path()), 0);
  // A non-matching URL of the intercepted host is forwarded over TLS (the
  // proxy verifies nginx's certificate with proxy.origin_ca_file).
  ASSERT_EQ(
      Curl(0, https_->Url("/plain/small.txt"), out_.Path("secure-small"), "--cacert " + ca_cert_),
      200)
      << last_curl_.output << Log(0);
  EXPECT_EQ(Slurp(out_.Path("secure-small")), "forwarded, not P2P\n");
  EXPECT_EQ(https_->RequestCount("/plain/small.txt"), 1u);
}

TEST_F(ProxyTest, BadRequestsGetClearErrorsAndTheDaemonLives) {
  const uint16_t port = proxies_[0];
  // Origin-form: a client that does not know it talks to a proxy.
  auto relative = test::RawHttpRequest(port, "GET", "/p2p/big.bin");
  ASSERT_TRUE(relative.ok()) << relative.status().ToString();
  EXPECT_EQ(relative->status, 400);
  EXPECT_NE(relative->body.find("absolute"), std::string::npos) << relative->body;
  auto ftp = test::RawHttpRequest(port, "GET", "ftp://127.0.0.1/x");
  ASSERT_TRUE(ftp.ok());
  EXPECT_EQ(ftp->status, 400);
  auto unknown = test::RawHttpRequest(port, "BREW", http_->Url("/p2p/big.bin"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 405);
  auto no_port = test::RawHttpRequest(port, "CONNECT", "127.0.0.1");
  ASSERT_TRUE(no_port.ok());
  EXPECT_EQ(no_port->status, 400);
  for (std::string garbage : {std::string("\x01\x02\x03 garbage\r\n\r\n"),
                              std::string("GET http://127.0.0.1/ HTTP/9\r\n\r\n"),
                              std::string("GET  HTTP/1.1\r\n\r\n")}) {
    auto connection = test::RawHttpConnection::Connect(port);
    ASSERT_TRUE(connection.ok());
    ASSERT_TRUE(connection->Send(garbage).ok());
    auto answer = connection->ReadResponse();
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ(answer->status, 400) << garbage;
  }
  // A body with an unknown method: 405 without reading it, and the
  // connection closes (the body is no next request).
  auto connection = test::RawHttpConnection::Connect(port);
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(connection
                  ->Send("BREW " + http_->Url("/plain/small.txt") +
                         " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                  .ok());
  auto brew = connection->ReadResponse();
  ASSERT_TRUE(brew.ok());
  EXPECT_EQ(brew->status, 405);
  EXPECT_TRUE(connection->ServerClosed());

  // Still serving, and the process is alive.
  ASSERT_EQ(Curl(0, http_->Url("/plain/small.txt"), out_.Path("after")), 200);
  EXPECT_EQ(Slurp(out_.Path("after")), "forwarded, not P2P\n");
  EXPECT_FALSE(cluster_->peer(0).process->Wait(std::chrono::milliseconds(100)).has_value());
  std::string log = Log(0);
  EXPECT_NE(log.find("route=rejected status=400"), std::string::npos) << log;
}

}  // namespace
}  // namespace feilong::testing
