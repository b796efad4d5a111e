// HttpSource against the in-process MisbehavingOrigin (fast, no processes).
#include "source/http_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "common/io_loop.h"
#include "source/curl_multi.h"
#include "support/misbehaving_origin.h"
#include "support/temp_dir.h"

namespace feilong::source {
namespace {

using test::MisbehavingOrigin;
using Behavior = MisbehavingOrigin::Behavior;

std::unique_ptr<MisbehavingOrigin> StartOrigin(MisbehavingOrigin::Options options) {
  Result<std::unique_ptr<MisbehavingOrigin>> origin = MisbehavingOrigin::Start(std::move(options));
  EXPECT_TRUE(origin.ok()) << origin.status().ToString();
  return origin.ok() ? std::move(origin).value() : nullptr;
}

MisbehavingOrigin::Options WithBody(Behavior behavior, std::string body) {
  MisbehavingOrigin::Options options;
  options.behavior = behavior;
  options.body = std::move(body);
  return options;
}

SourceRequest Request(const std::string& url) {
  SourceRequest request;
  request.url = url;
  request.connect_timeout = std::chrono::milliseconds(2000);
  request.stall_timeout = std::chrono::milliseconds(5000);
  return request;
}

// Fetches a range into a string.
Status Fetch(HttpSource& source, const SourceRequest& request, uint64_t offset, uint64_t length,
             std::string* out) {
  return source.FetchRange(request, offset, length, [out](std::span<const uint8_t> data) {
    out->append(reinterpret_cast<const char*>(data.data()), data.size());
    return Status::Ok();
  });
}

TEST(HttpSourceTest, ProbeAndFetchFromAnHonestOrigin) {
  std::string body = test::RandomBytes(100'000, 1);
  auto origin = StartOrigin(WithBody(Behavior::kHonest, body));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/file.bin"));

  Result<ContentInfo> info = source.Probe(request);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, body.size());
  EXPECT_TRUE(info->range_supported);

  std::string got;
  ASSERT_TRUE(Fetch(source, request, 1000, 5000, &got).ok());
  EXPECT_EQ(got, body.substr(1000, 5000));
  got.clear();
  ASSERT_TRUE(Fetch(source, request, 99'999, 1, &got).ok());
  EXPECT_EQ(got, body.substr(99'999));

  // One pooled handle: the probe and both fetches share one connection.
  EXPECT_EQ(origin->connections(), 1u);
  std::vector<std::string> requests = origin->Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[0].find("Range: bytes=0-0"), std::string::npos) << requests[0];
  EXPECT_NE(requests[1].find("Range: bytes=1000-5999"), std::string::npos) << requests[1];
}

// The asynchronous forms on a CurlMulti read answers exactly as the blocking
// ones: an honest origin, one whose Content-Length lies, one that ignores
// Range, and a range that cannot be asked for at all.
TEST(HttpSourceTest, TheAsynchronousFormsCheckTheSame) {
  IoLoop loop(1);
  CurlMulti multi(loop);
  HttpSource source;
  auto probe = [&](const SourceRequest& request) {
    std::promise<Result<ContentInfo>> done;
    source.ProbeAsync(multi, request, [&](Result<ContentInfo> info) { done.set_value(info); });
    return done.get_future().get();
  };
  auto fetch = [&](const SourceRequest& request, uint64_t offset, uint64_t length,
                   std::string* out) {
    std::promise<Status> done;
    source.FetchRangeAsync(
        multi, request, offset, length,
        [out](std::span<const uint8_t> data) {
          out->append(reinterpret_cast<const char*>(data.data()), data.size());
          return Status::Ok();
        },
        [&](Status status) { done.set_value(std::move(status)); });
    return done.get_future().get();
  };

  std::string body = test::RandomBytes(100'000, 1);
  auto honest = StartOrigin(WithBody(Behavior::kHonest, body));
  ASSERT_NE(honest, nullptr);
  SourceRequest request = Request(honest->Url("/file.bin"));
  Result<ContentInfo> info = probe(request);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, body.size());
  EXPECT_TRUE(info->range_supported);
  std::string got;
  ASSERT_TRUE(fetch(request, 1000, 5000, &got).ok());
  EXPECT_EQ(got, body.substr(1000, 5000));
  EXPECT_EQ(honest->connections(), 1u);  // the multi keeps the connection
  EXPECT_EQ(fetch(request, 10, 0, &got).code(), StatusCode::kInvalidArgument);

  auto lying = StartOrigin(WithBody(Behavior::kShortBody, test::RandomBytes(64 * 1024, 2)));
  ASSERT_NE(lying, nullptr);
  got.clear();
  Status status = fetch(Request(lying->Url("/f")), 1024, 32 * 1024, &got);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find("origin sent 16384 of 32768 bytes"), std::string::npos)
      << status.message();

  auto no_ranges = StartOrigin(WithBody(Behavior::kIgnoreRange, body));
  ASSERT_NE(no_ranges, nullptr);
  info = probe(Request(no_ranges->Url("/f")));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->range_supported);
  got.clear();
  EXPECT_EQ(fetch(Request(no_ranges->Url("/f")), 100, 200, &got).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(got.empty());
}

TEST(HttpSourceTest, PassesRequestHeadersButNotRange) {
  auto origin = StartOrigin(WithBody(Behavior::kHonest, "hello"));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/f"));
  request.headers = {{"Authorization", "Bearer t0ken"}, {"X-Custom", "v"}, {"Range", "bytes=3-"}};
  std::string got;
  ASSERT_TRUE(Fetch(source, request, 0, 5, &got).ok());
  EXPECT_EQ(got, "hello");
  std::string head = origin->Requests().at(0);
  EXPECT_NE(head.find("Authorization: Bearer t0ken"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Custom: v"), std::string::npos) << head;
  EXPECT_EQ(head.find("bytes=3-"), std::string::npos) << head;
}

TEST(HttpSourceTest, ServerErrorIsUnavailableAndHidesTheQuery) {
  MisbehavingOrigin::Options options = WithBody(Behavior::kFixedStatus, "x");
  options.status = 500;
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/f.bin?X-Amz-Signature=topsecret&token=abc"));

  Result<ContentInfo> info = source.Probe(request);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable) << info.status().ToString();
  EXPECT_NE(info.status().message().find("/f.bin"), std::string::npos);
  EXPECT_NE(info.status().message().find("500"), std::string::npos);
  EXPECT_EQ(info.status().message().find('?'), std::string::npos) << info.status().message();
  EXPECT_EQ(info.status().message().find("topsecret"), std::string::npos);

  std::string got;
  Status status = Fetch(source, request, 0, 1, &got);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(status.message().find("topsecret"), std::string::npos) << status.message();
  EXPECT_TRUE(got.empty());  // an error body never reaches the sink
}

TEST(HttpSourceTest, MapsHttpStatuses) {
  struct Case {
    unsigned http;
    StatusCode code;
  };
  for (Case c : {Case{404, StatusCode::kNotFound}, Case{410, StatusCode::kNotFound},
                 Case{401, StatusCode::kPermissionDenied}, Case{403, StatusCode::kPermissionDenied},
                 Case{400, StatusCode::kInvalidArgument}, Case{503, StatusCode::kUnavailable}}) {
    MisbehavingOrigin::Options options = WithBody(Behavior::kFixedStatus, "");
    options.status = c.http;
    auto origin = StartOrigin(options);
    ASSERT_NE(origin, nullptr);
    HttpSource source;
    Status status = source.Probe(Request(origin->Url("/f"))).status();
    EXPECT_EQ(status.code(), c.code) << c.http << ": " << status.ToString();
  }
}

TEST(HttpSourceTest, LyingContentLengthIsAnErrorNotAShortSuccess) {
  std::string body = test::RandomBytes(64 * 1024, 2);
  auto origin = StartOrigin(WithBody(Behavior::kShortBody, body));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/f?sig=secret"));
  std::string got;
  Status status = Fetch(source, request, 1024, 32 * 1024, &got);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find("origin sent 16384 of 32768 bytes"), std::string::npos)
      << status.message();
  EXPECT_EQ(status.message().find("secret"), std::string::npos);
  EXPECT_LT(got.size(), 32u * 1024);
}

TEST(HttpSourceTest, OriginIgnoringRangeIsDetected) {
  std::string body = test::RandomBytes(10'000, 3);
  auto origin = StartOrigin(WithBody(Behavior::kIgnoreRange, body));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/f"));

  Result<ContentInfo> info = source.Probe(request);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, body.size());
  EXPECT_FALSE(info->range_supported);

  // The whole content in one request works...
  std::string got;
  ASSERT_TRUE(Fetch(source, request, 0, body.size(), &got).ok());
  EXPECT_EQ(got, body);
  // ...a part of it does not, and nothing reaches the sink.
  got.clear();
  Status status = Fetch(source, request, 100, 200, &got);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  EXPECT_TRUE(got.empty());
  status = Fetch(source, request, 0, 200, &got);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  EXPECT_TRUE(got.empty());
}

TEST(HttpSourceTest, StalledOriginGivesDeadlineExceededQuickly) {
  std::string body = test::RandomBytes(100'000, 4);
  MisbehavingOrigin::Options options = WithBody(Behavior::kStall, body);
  options.stall_after = 1000;
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  SourceRequest request = Request(origin->Url("/f?token=secret"));
  request.stall_timeout = std::chrono::milliseconds(300);

  auto start = std::chrono::steady_clock::now();
  std::string got;
  Status status = Fetch(source, request, 0, body.size(), &got);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.ToString();
  EXPECT_EQ(status.message().find("secret"), std::string::npos);
  EXPECT_EQ(got, body.substr(0, 1000));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(HttpSourceTest, SinkErrorStopsTheTransferAndIsReturned) {
  std::string body = test::RandomBytes(1 << 20, 5);
  auto origin = StartOrigin(WithBody(Behavior::kHonest, body));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  uint64_t seen = 0;
  Status status = source.FetchRange(Request(origin->Url("/f")), 0, body.size(),
                                    [&](std::span<const uint8_t> data) {
                                      seen += data.size();
                                      return Status::ResourceExhausted("disk full");
                                    });
  EXPECT_EQ(status, Status::ResourceExhausted("disk full"));
  EXPECT_LT(seen, body.size());
}

TEST(HttpSourceTest, FollowsRedirects) {
  std::string body = "redirected content";
  auto target = StartOrigin(WithBody(Behavior::kHonest, body));
  ASSERT_NE(target, nullptr);
  MisbehavingOrigin::Options options = WithBody(Behavior::kRedirect, "");
  options.redirect_to = target->Url("/real");
  auto redirector = StartOrigin(options);
  ASSERT_NE(redirector, nullptr);
  HttpSource source;
  SourceRequest request = Request(redirector->Url("/moved"));
  Result<ContentInfo> info = source.Probe(request);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, body.size());
  std::string got;
  ASSERT_TRUE(Fetch(source, request, 5, 7, &got).ok());
  EXPECT_EQ(got, body.substr(5, 7));
}

HttpSource WithPolicy(const OriginPolicyConfig& config) {
  HttpSourceOptions options;
  auto policy = OriginPolicy::Create(config);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  options.origin_policy = policy.value_or(OriginPolicy());
  return HttpSource(std::move(options));
}

// "http://localhost:<port>/..." for an origin's 127.0.0.1 URL.
std::string ByName(const std::string& url) {
  std::string out = url;
  out.replace(out.find("127.0.0.1"), 9, "localhost");
  return out;
}

TEST(HttpSourceTest, TheOriginPolicyChecksTheUrlEveryAddressAndEveryRedirect) {
  auto target = StartOrigin(WithBody(Behavior::kHonest, "private"));
  ASSERT_NE(target, nullptr);
  MisbehavingOrigin::Options options = WithBody(Behavior::kRedirect, "");
  options.redirect_to = target->Url("/real");
  auto redirector = StartOrigin(options);
  ASSERT_NE(redirector, nullptr);

  // The URL's own host.
  Status status = WithPolicy({.deny_loopback = true}).Probe(Request(target->Url("/a"))).status();
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << status.ToString();
  EXPECT_NE(status.message().find("loopback"), std::string::npos) << status.message();
  // A name that resolves to a denied address: refused when connecting.
  std::string got;
  HttpSource deny_loopback_block = WithPolicy({.deny = {"127.0.0.0/8"}});
  status = Fetch(deny_loopback_block, Request(ByName(target->Url("/b"))), 0, 3, &got);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << status.ToString();
  EXPECT_TRUE(target->Requests().empty()) << "nothing reached the denied origin";
  // An allowed origin redirecting somewhere the policy does not allow.
  status = WithPolicy({.allow = {"localhost"}})
               .Probe(Request(ByName(redirector->Url("/moved"))))
               .status();
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << status.ToString();
  EXPECT_EQ(redirector->Requests().size(), 1u);
  EXPECT_TRUE(target->Requests().empty()) << "the redirect was not followed";
  // However the Location is spelled, libcurl's reading of it is checked.
  MisbehavingOrigin::Options odd = WithBody(Behavior::kRedirect, "");
  std::string target_url = target->Url("/real");
  odd.redirect_to = "http:///" + target_url.substr(std::string("http://").size());
  auto odd_redirector = StartOrigin(odd);
  ASSERT_NE(odd_redirector, nullptr);
  status = WithPolicy({.allow = {"localhost"}})
               .Probe(Request(ByName(odd_redirector->Url("/moved"))))
               .status();
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << status.ToString();
  EXPECT_TRUE(target->Requests().empty());
  // The same, allowed: it works.
  Result<ContentInfo> info = WithPolicy({.allow = {"localhost", "127.0.0.1"}})
                                 .Probe(Request(ByName(redirector->Url("/moved"))));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, 7u);
}

TEST(HttpSourceTest, RedirectLoopIsAnError) {
  MisbehavingOrigin::Options options = WithBody(Behavior::kRedirect, "");
  options.redirect_to = "/again";
  auto origin = StartOrigin(options);
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  Status status = source.Probe(Request(origin->Url("/loop?k=secret"))).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ(status.message().find("secret"), std::string::npos) << status.message();
  EXPECT_EQ(origin->Requests().size(), 6u);  // the first request and 5 redirects
}

TEST(HttpSourceTest, RangeBeyondTheEndIsAnError) {
  auto origin = StartOrigin(WithBody(Behavior::kHonest, "0123456789"));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  std::string got;
  EXPECT_EQ(Fetch(source, Request(origin->Url("/f")), 10, 5, &got).code(),
            StatusCode::kInvalidArgument);  // 416
  // A range that only partly exists: the origin answers 206 for 8-9.
  Status status = Fetch(source, Request(origin->Url("/f")), 8, 5, &got);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(Fetch(source, Request(origin->Url("/f")), 0, 0, &got).code(),
            StatusCode::kInvalidArgument);
}

TEST(HttpSourceTest, EmptyContentProbesAsZero) {
  auto origin = StartOrigin(WithBody(Behavior::kHonest, ""));
  ASSERT_NE(origin, nullptr);
  HttpSource source;
  Result<ContentInfo> info = source.Probe(Request(origin->Url("/empty")));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, 0u);
}

TEST(HttpSourceTest, ConnectionRefusedIsUnavailable) {
  uint16_t port = test::FreeTcpPort();
  HttpSource source;
  Status status =
      source.Probe(Request("http://127.0.0.1:" + std::to_string(port) + "/f?secret=1")).status();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_EQ(status.message().find("secret"), std::string::npos) << status.message();
}

TEST(HttpSourceTest, ConnectTimeoutIsDeadlineExceeded) {
  // A listening socket whose backlog is full never completes new handshakes
  // on Linux, so connect() hangs. Simpler and reliable: an unroutable
  // address (TEST-NET-1) with a short connect timeout.
  HttpSource source;
  SourceRequest request = Request("http://192.0.2.1:81/f");
  request.connect_timeout = std::chrono::milliseconds(200);
  request.stall_timeout = std::chrono::milliseconds(5000);
  auto start = std::chrono::steady_clock::now();
  Status status = source.Probe(request).status();
  EXPECT_TRUE(status.code() == StatusCode::kDeadlineExceeded ||
              status.code() == StatusCode::kUnavailable)  // no route in a sandbox
      << status.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace feilong::source
