// Pure parts of the registry mirror: blob routes, query parameters, config,
// upstream choice, blob task ids, Range headers.
#include <gtest/gtest.h>

#include <vector>

#include "common/config.h"
#include "common/digest.h"
#include "common/task_id.h"
#include "mirror/blob_route.h"
#include "mirror/byte_range.h"
#include "mirror/mirror_config.h"
#include "mirror/upstream.h"

namespace feilong::mirror {
namespace {

const std::string kHex(64, 'a');

TEST(BlobRouteTest, ParsesBlobGets) {
  auto r = ParseBlobRoute("/v2/library/alpine/blobs/sha256:" + kHex);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->name, "library/alpine");
  EXPECT_EQ(r->digest_hex, kHex);
  EXPECT_EQ(r->Digest(), "sha256:" + kHex);
  auto single = ParseBlobRoute("/v2/test/blobs/sha256:" + kHex);
  ASSERT_TRUE(single.has_value());
  EXPECT_EQ(single->name, "test");
}

TEST(BlobRouteTest, EverythingElseIsNotABlob) {
  const std::vector<std::string> paths = {
      "/v2/",
      "/v2/test/manifests/latest",
      "/v2/test/manifests/sha256:" + kHex,
      "/v2/test/blobs/uploads/",
      "/v2/test/blobs/sha512:" + std::string(128, 'a'),  // other algorithms pass through
      "/v2/test/blobs/sha256:" + std::string(63, 'a'),
      "/v2/test/blobs/sha256:" + std::string(64, 'A'),  // uppercase hex is not canonical
      "/v2/test/blobs/sha256:" + kHex + "/x",
      "/v2//blobs/sha256:" + kHex,
      "/v2/../blobs/sha256:" + kHex,
      "/v2/a/../b/blobs/sha256:" + kHex,
      "/v2/Test/blobs/sha256:" + kHex,
      "/v3/test/blobs/sha256:" + kHex,
  };
  for (const std::string& path : paths) {
    EXPECT_FALSE(ParseBlobRoute(path).has_value()) << path;
  }
}

TEST(QueryTest, FindsAndRemovesParameters) {
  EXPECT_EQ(QueryParam("ns=docker.io", "ns"), "docker.io");
  EXPECT_EQ(QueryParam("a=1&ns=127.0.0.1%3A5000", "ns"), "127.0.0.1:5000");
  EXPECT_FALSE(QueryParam("a=1&nsx=2", "ns").has_value());
  EXPECT_EQ(QueryParam("ns", "ns"), "");
  EXPECT_EQ(RemoveQueryParam("a=1&ns=docker.io&b=2", "ns"), "a=1&b=2");
  EXPECT_EQ(RemoveQueryParam("ns=docker.io", "ns"), "");
  Target t = SplitTarget("/v2/x/manifests/1?ns=h&y=2");
  EXPECT_EQ(t.path, "/v2/x/manifests/1");
  EXPECT_EQ(t.query, "ns=h&y=2");
  EXPECT_EQ(SplitTarget("/v2/").query, "");
}

Result<MirrorConfig> Parse(const std::string& yaml) {
  FL_ASSIGN_OR_RETURN(ConfigReader root, ConfigReader::FromString(yaml));
  MirrorConfig config;
  FL_RETURN_IF_ERROR(ParseMirrorConfig(root.Child("mirror"), config));
  FL_RETURN_IF_ERROR(root.CheckNoUnknownKeys());
  FL_RETURN_IF_ERROR(ValidateMirrorConfig(config));
  return config;
}

TEST(MirrorConfigTest, DefaultsAreOffAndLoopback) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->enabled);
  EXPECT_EQ(c->listen, "127.0.0.1:65001");
  EXPECT_TRUE(c->verify_blob_access);
}

TEST(MirrorConfigTest, ReadsRegistriesInOrderAndDerivesConnections) {
  auto c = Parse(R"(
mirror:
  enabled: true
  listen: 127.0.0.1:0
  registries:
    registry.example:5000: http://127.0.0.1:5000/
    docker.io: https://registry-1.docker.io
  default_registry: docker.io
  io_timeout: 5s
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->registries.size(), 2u);
  const Upstream& local = c->registries[0];
  EXPECT_EQ(local.host, "registry.example:5000");
  EXPECT_EQ(local.url, "http://127.0.0.1:5000");
  EXPECT_FALSE(local.tls);
  EXPECT_EQ(local.connect_host, "127.0.0.1");
  EXPECT_EQ(local.connect_port, 5000);
  EXPECT_EQ(local.host_header, "127.0.0.1:5000");
  const Upstream& hub = c->registries[1];
  EXPECT_TRUE(hub.tls);
  EXPECT_EQ(hub.connect_port, 443);
  EXPECT_EQ(hub.host_header, "registry-1.docker.io");
  EXPECT_EQ(c->default_registry, "docker.io");
  EXPECT_EQ(c->io_timeout, std::chrono::seconds(5));
}

TEST(MirrorConfigTest, DefaultRegistryIsTheFirst) {
  auto c =
      Parse("mirror: {enabled: true, registries: {a.example: 'http://a', b.example: 'http://b'}}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->default_registry, "a.example");
}

TEST(MirrorConfigTest, BadValuesNameTheKey) {
  struct Case {
    std::string yaml;
    std::string needle;
  } cases[] = {
      {"mirror: {enabled: true}", "mirror.registries"},
      {"mirror: {enabled: true, registries: {a: 'ftp://a'}}", "mirror.registries.a"},
      {"mirror: {enabled: true, registries: {a: 'http://a/v2'}}", "mirror.registries.a"},
      {"mirror: {enabled: true, registries: {a: 'http://u:p@a'}}", "mirror.registries.a"},
      {"mirror: {enabled: true, registries: {a: 'http://a', A: 'http://b'}}", "listed twice"},
      {"mirror: {enabled: true, registries: {a: 'http://a'}, default_registry: b}",
       "mirror.default_registry"},
      {"mirror: {enabled: true, registries: {a: 'http://a'}, threads: 0}", "mirror.threads"},
      {"mirror: {enabled: maybe}", "mirror.enabled"},
      {"mirror: {listne: x}", "mirror.listne"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos)
        << c.yaml << " -> " << r.status().ToString();
  }
}

TEST(UpstreamTest, NsThenHeaderThenDefault) {
  auto c = Parse(R"(
mirror:
  enabled: true
  registries: {docker.io: 'https://registry-1.docker.io', '127.0.0.1:5000': 'http://127.0.0.1:5000', quay.io: 'https://quay.io'}
  default_registry: quay.io
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto pick = [&](std::optional<std::string> ns, std::optional<std::string> header) {
    auto r = ChooseUpstream(*c, ns, header);
    return r.ok() ? (*r)->host : "error: " + r.status().ToString();
  };
  EXPECT_EQ(pick("docker.io", "127.0.0.1:5000"), "docker.io");
  EXPECT_EQ(pick(std::nullopt, "127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(pick(std::nullopt, std::nullopt), "quay.io");
  EXPECT_EQ(pick("DOCKER.IO", std::nullopt), "docker.io");
  auto unknown = ChooseUpstream(*c, std::string("evil.example"), std::nullopt);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.status().IsNotFound());
  EXPECT_NE(unknown.status().message().find("evil.example"), std::string::npos);
}

TEST(ByteRangeTest, Forms) {
  ByteRange r;
  ASSERT_EQ(ParseRange("bytes=0-9", 100, &r), RangeParse::kRange);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  ASSERT_EQ(ParseRange("bytes=90-", 100, &r), RangeParse::kRange);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(ParseRange("bytes=-10", 100, &r), RangeParse::kRange);
  EXPECT_EQ(r.first, 90u);
  ASSERT_EQ(ParseRange("bytes=50-500", 100, &r), RangeParse::kRange);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(ParseRange("bytes=-500", 100, &r), RangeParse::kRange);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(ParseRange("bytes=100-", 100, &r), RangeParse::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 100, &r), RangeParse::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 100, &r), RangeParse::kNone);
  EXPECT_EQ(ParseRange("bytes=9-1", 100, &r), RangeParse::kNone);
  EXPECT_EQ(ParseRange("bytes=x-1", 100, &r), RangeParse::kNone);
}

TEST(ByteRangeTest, PieceAnswerHeadsForWholeBodiesAndRanges) {
  std::string whole = PieceAnswerHead(false, ByteRange{}, 1000, "X-A: b\r\n", true);
  EXPECT_EQ(whole.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << whole;
  EXPECT_NE(whole.find("\r\nContent-Length: 1000\r\n"), std::string::npos) << whole;
  EXPECT_NE(whole.find("\r\nX-A: b\r\n"), std::string::npos) << whole;
  EXPECT_NE(whole.find("\r\nConnection: keep-alive\r\n\r\n"), std::string::npos) << whole;
  EXPECT_EQ(whole.find("Content-Range"), std::string::npos) << whole;

  std::string part = PieceAnswerHead(true, ByteRange{10, 19}, 1000, "", false);
  EXPECT_EQ(part.rfind("HTTP/1.1 206 Partial Content\r\n", 0), 0u) << part;
  EXPECT_NE(part.find("\r\nContent-Range: bytes 10-19/1000\r\n"), std::string::npos) << part;
  EXPECT_NE(part.find("\r\nContent-Length: 10\r\n"), std::string::npos) << part;
  EXPECT_NE(part.find("\r\nConnection: close\r\n\r\n"), std::string::npos) << part;
}

TEST(ByteRangeTest, SingleRangeIsDecidedWithoutTheLength) {
  for (const char* one : {"bytes=0-9", "bytes=90-", "bytes=-10", "bytes=-0", "bytes=5-5"}) {
    EXPECT_TRUE(IsSingleByteRange(one)) << one;
  }
  for (const char* other :
       {"bytes=0-1,5-6", "items=0-1", "bytes=9-1", "bytes=x-1", "bytes=", "bytes=-", "", "0-1"}) {
    EXPECT_FALSE(IsSingleByteRange(other)) << other;
  }
  // What IsSingleByteRange accepts never parses to kNone, whatever the length.
  ByteRange r;
  for (uint64_t length : {0u, 1u, 10u, 1000u}) {
    for (const char* one : {"bytes=0-9", "bytes=90-", "bytes=-10", "bytes=-0", "bytes=5-5"}) {
      EXPECT_NE(ParseRange(one, length, &r), RangeParse::kNone) << one << " " << length;
    }
  }
}

}  // namespace
}  // namespace feilong::mirror
