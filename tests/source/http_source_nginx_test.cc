// HttpSource against a real nginx (integration: spawns a process).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "source/http_source.h"
#include "support/nginx_origin.h"
#include "support/temp_dir.h"

namespace feilong::source {
namespace {

constexpr size_t kMiB = 1 << 20;
constexpr size_t kBigSize = 5 * kMiB + 3;

class HttpSourceNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(test::WriteFile(files_.Path("empty.bin"), "").ok());
    ASSERT_TRUE(test::WriteRandomFile(files_.Path("one.bin"), 1, 11).ok());
    ASSERT_TRUE(test::WriteRandomFile(files_.Path("big.bin"), kBigSize, 12).ok());
    test::NginxOrigin::Options options;
    options.root = files_.path();
    options.extra_server_config = "location = /moved.bin { return 302 /big.bin; }";
    Result<std::unique_ptr<test::NginxOrigin>> nginx = test::NginxOrigin::Start(options);
    ASSERT_TRUE(nginx.ok()) << nginx.status().ToString();
    nginx_ = std::move(nginx).value();
  }

  SourceRequest Request(std::string_view path) {
    SourceRequest request;
    request.url = nginx_->Url(path);
    return request;
  }

  Result<std::string> Fetch(std::string_view path, uint64_t offset, uint64_t length) {
    std::string out;
    FL_RETURN_IF_ERROR(
        source_.FetchRange(Request(path), offset, length, [&](std::span<const uint8_t> data) {
          out.append(reinterpret_cast<const char*>(data.data()), data.size());
          return Status::Ok();
        }));
    return out;
  }

  // nginx writes its log line when a request finishes, just after the last
  // byte went out; give it a moment.
  uint64_t WaitForRequests(std::string_view path, uint64_t expected) {
    for (int i = 0; i < 200 && nginx_->RequestCount(path) < expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return nginx_->RequestCount(path);
  }

  test::TempDir files_;
  std::unique_ptr<test::NginxOrigin> nginx_;
  HttpSource source_;
};

TEST_F(HttpSourceNginxTest, ProbesLengths) {
  struct Case {
    const char* path;
    uint64_t length;
  };
  for (Case c : {Case{"/empty.bin", 0}, Case{"/one.bin", 1}, Case{"/big.bin", kBigSize}}) {
    Result<ContentInfo> info = source_.Probe(Request(c.path));
    ASSERT_TRUE(info.ok()) << c.path << ": " << info.status().ToString();
    EXPECT_EQ(info->content_length, c.length) << c.path;
    if (c.length > 0) {
      EXPECT_TRUE(info->range_supported) << c.path;
    }
  }
  // A probe transfers at most one byte of content.
  WaitForRequests("/big.bin", 1);
  EXPECT_LE(nginx_->BytesServed("/big.bin"), 1u);
}

TEST_F(HttpSourceNginxTest, FetchesInteriorAndLastRangesByteExact) {
  std::string content = test::RandomBytes(kBigSize, 12);
  constexpr uint64_t kPiece = 1 * kMiB;
  Result<std::string> interior = Fetch("/big.bin", 2 * kPiece, kPiece);
  ASSERT_TRUE(interior.ok()) << interior.status().ToString();
  EXPECT_TRUE(*interior == content.substr(2 * kPiece, kPiece));

  Result<std::string> last = Fetch("/big.bin", 5 * kPiece, 3);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_TRUE(*last == content.substr(5 * kPiece));

  Result<std::string> whole = Fetch("/big.bin", 0, kBigSize);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(*whole == content);

  Result<std::string> one = Fetch("/one.bin", 0, 1);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(*one, test::RandomBytes(1, 11));

  EXPECT_EQ(WaitForRequests("/big.bin", 3), 3u);
  EXPECT_EQ(nginx_->BytesServed("/big.bin"), kPiece + 3 + kBigSize);
}

TEST_F(HttpSourceNginxTest, MissingFileIsNotFound) {
  Result<ContentInfo> info = source_.Probe(Request("/missing.bin?X-Amz-Signature=s3cr3t"));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound) << info.status().ToString();
  EXPECT_EQ(info.status().message().find("s3cr3t"), std::string::npos);
  Result<std::string> fetched = Fetch("/missing.bin", 0, 10);
  EXPECT_EQ(fetched.status().code(), StatusCode::kNotFound);
}

TEST_F(HttpSourceNginxTest, RangePastTheEndIsRejected) {
  Result<std::string> fetched = Fetch("/one.bin", 1, 1);
  EXPECT_EQ(fetched.status().code(), StatusCode::kInvalidArgument) << fetched.status().ToString();
}

TEST_F(HttpSourceNginxTest, FollowsRedirect) {
  Result<ContentInfo> info = source_.Probe(Request("/moved.bin"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, kBigSize);
  Result<std::string> tail = Fetch("/moved.bin", kBigSize - 10, 10);
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_EQ(*tail, test::RandomBytes(kBigSize, 12).substr(kBigSize - 10));
}

TEST_F(HttpSourceNginxTest, ConcurrentFetchesFromOneClient) {
  std::string content = test::RandomBytes(kBigSize, 12);
  constexpr uint64_t kPiece = 1 * kMiB;
  std::vector<std::string> parts(6);
  std::vector<Status> statuses(6);
  {
    std::vector<std::jthread> threads;
    for (uint64_t i = 0; i < 6; ++i) {
      threads.emplace_back([&, i] {
        uint64_t length = std::min<uint64_t>(kPiece, kBigSize - i * kPiece);
        Result<std::string> got = Fetch("/big.bin", i * kPiece, length);
        statuses[i] = got.status();
        if (got.ok()) {
          parts[i] = *got;
        }
      });
    }
  }
  std::string joined;
  for (uint64_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].ToString();
    joined += parts[i];
  }
  EXPECT_TRUE(joined == content);
}

TEST(HttpSourceTlsTest, FetchesOverHttpsWithATrustedCertificate) {
  test::TempDir files;
  ASSERT_TRUE(test::WriteRandomFile(files.Path("f.bin"), 300'000, 21).ok());
  test::NginxOrigin::Options options;
  options.root = files.path();
  options.tls = true;
  Result<std::unique_ptr<test::NginxOrigin>> nginx = test::NginxOrigin::Start(options);
  ASSERT_TRUE(nginx.ok()) << nginx.status().ToString();
  SourceRequest request;
  request.url = (*nginx)->Url("/f.bin?token=secret");

  // Not trusted: the system store does not know the self-signed certificate.
  HttpSource untrusting;
  Status status = untrusting.Probe(request).status();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_EQ(status.message().find("secret"), std::string::npos) << status.message();

  HttpSourceOptions source_options;
  source_options.ca_file = (*nginx)->cert_path();
  HttpSource source(source_options);
  Result<ContentInfo> info = source.Probe(request);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->content_length, 300'000u);
  std::string got;
  ASSERT_TRUE(source
                  .FetchRange(request, 100'000, 150'000,
                              [&](std::span<const uint8_t> data) {
                                got.append(reinterpret_cast<const char*>(data.data()), data.size());
                                return Status::Ok();
                              })
                  .ok());
  EXPECT_TRUE(got == test::RandomBytes(300'000, 21).substr(100'000, 150'000));
}

}  // namespace
}  // namespace feilong::source
