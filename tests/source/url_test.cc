#include "source/url.h"

#include <gtest/gtest.h>

#include "common/digest.h"
#include "common/task_id.h"
#include "source/source_client.h"

namespace feilong::source {
namespace {

std::string Normalize(std::string_view url) {
  Result<std::string> normalized = NormalizeUrlForTaskId(url);
  EXPECT_TRUE(normalized.ok()) << url << ": " << normalized.status().ToString();
  return normalized.ok() ? *normalized : std::string();
}

TEST(ParseUrlTest, SplitsAllParts) {
  Result<ParsedUrl> parsed = ParseUrl("HTTPS://user:pw@Example.COM:8443/a/b?x=1&y=2#frag");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->scheme, "https");
  EXPECT_EQ(parsed->userinfo, "user:pw");
  EXPECT_EQ(parsed->host, "Example.COM");
  EXPECT_EQ(parsed->port, 8443);
  EXPECT_EQ(parsed->path, "/a/b");
  EXPECT_EQ(parsed->query, "x=1&y=2");
  EXPECT_EQ(parsed->fragment, "frag");
}

TEST(ParseUrlTest, Ipv6Host) {
  Result<ParsedUrl> parsed = ParseUrl("http://[::1]:8080/f");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->host, "[::1]");
  EXPECT_EQ(parsed->port, 8080);
}

TEST(ParseUrlTest, RejectsMalformed) {
  for (const char* bad : {"", "example.com/file", "://host/x", "1http://host/", "http:///path",
                          "http://host:0/", "http://host:70000/", "http://host:8x/",
                          "http://ho st/", "http://host/a b", "http://[::1/x", "http://h<o>/"}) {
    Result<ParsedUrl> parsed = ParseUrl(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ParseUrlTest, ErrorDoesNotLeakQuery) {
  Result<ParsedUrl> parsed = ParseUrl("http://host:99999/f?X-Amz-Signature=secret");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message().find("secret"), std::string::npos)
      << parsed.status().message();
}

TEST(NormalizeUrlTest, LowercasesSchemeAndHostDropsDefaultPortAndFragment) {
  EXPECT_EQ(Normalize("HTTP://Example.COM:80/Path/File#top"), "http://example.com/Path/File");
  EXPECT_EQ(Normalize("https://example.com:443/f"), "https://example.com/f");
  EXPECT_EQ(Normalize("https://example.com:80/f"), "https://example.com:80/f");
  EXPECT_EQ(Normalize("http://example.com:08080/f"), "http://example.com:8080/f");
}

TEST(NormalizeUrlTest, EmptyPathBecomesSlashAndDotSegmentsResolve) {
  EXPECT_EQ(Normalize("http://example.com"), "http://example.com/");
  EXPECT_EQ(Normalize("http://example.com?a=1"), "http://example.com/?a=1");
  EXPECT_EQ(Normalize("http://example.com/a/./b/../c"), "http://example.com/a/c");
  EXPECT_EQ(Normalize("http://example.com/a/b/.."), "http://example.com/a/");
  EXPECT_EQ(Normalize("http://example.com/../../x"), "http://example.com/x");
  EXPECT_EQ(Normalize("http://example.com/dir/"), "http://example.com/dir/");
}

TEST(NormalizeUrlTest, DropsUserinfo) {
  EXPECT_EQ(Normalize("http://alice:secret@example.com/f"), "http://example.com/f");
}

TEST(NormalizeUrlTest, UppercasesPercentEscapes) {
  EXPECT_EQ(Normalize("http://h/a%2fb?q=%3a"), "http://h/a%2Fb?q=%3A");
}

TEST(NormalizeUrlTest, StripsSignatureParameters) {
  // AWS SigV4 pre-signed URL.
  EXPECT_EQ(Normalize("https://bucket.s3.amazonaws.com/model.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                      "&X-Amz-Credential=AKIA%2F20240101&X-Amz-Date=20240101T000000Z"
                      "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=abc123"
                      "&versionId=7"),
            "https://bucket.s3.amazonaws.com/model.bin?versionId=7");
  // SigV2 / Aliyun OSS.
  EXPECT_EQ(Normalize("http://h/f?OSSAccessKeyId=k&Expires=1&Signature=s"), "http://h/f");
  EXPECT_EQ(Normalize("http://h/f?AWSAccessKeyId=k&Expires=1&Signature=s&a=b"), "http://h/f?a=b");
  // Google Cloud Storage.
  EXPECT_EQ(Normalize("http://h/f?x-goog-signature=s&X-Goog-Date=d&keep=1"), "http://h/f?keep=1");
  // Tencent COS.
  EXPECT_EQ(Normalize("http://h/f?q-sign-algorithm=sha1&q-ak=a&q-sign-time=1;2&q-key-time=1;2"
                      "&q-header-list=host&q-url-param-list=&q-signature=s"),
            "http://h/f");
  // Huawei OBS and containerd's namespace hint.
  EXPECT_EQ(Normalize("http://h/v2/lib/blobs/sha256:ab?ns=docker.io&X-Obs-Date=d"),
            "http://h/v2/lib/blobs/sha256:ab");
}

TEST(NormalizeUrlTest, SortsRemainingParametersForStability) {
  std::string a = Normalize("http://h/f?b=2&a=1&c=3&Signature=x");
  std::string b = Normalize("http://h/f?c=3&Signature=y&a=1&b=2");
  EXPECT_EQ(a, "http://h/f?a=1&b=2&c=3");
  EXPECT_EQ(a, b);
  EXPECT_EQ(Normalize("http://h/f?a=2&a=1&&"), "http://h/f?a=1&a=2");
}

TEST(NormalizeUrlTest, SignatureNamesOnlyMatchWholeNamesOrPrefixes) {
  EXPECT_TRUE(IsSignatureQueryParameter("X-Amz-Signature"));
  EXPECT_TRUE(IsSignatureQueryParameter("x-amz-security-token"));
  EXPECT_TRUE(IsSignatureQueryParameter("EXPIRES"));
  EXPECT_TRUE(IsSignatureQueryParameter("ns"));
  EXPECT_FALSE(IsSignatureQueryParameter("nsx"));
  EXPECT_FALSE(IsSignatureQueryParameter("signatures"));
  EXPECT_FALSE(IsSignatureQueryParameter("x-amz"));
  EXPECT_FALSE(IsSignatureQueryParameter("versionId"));
}

TEST(RedactUrlTest, RemovesQueryUserinfoAndFragment) {
  EXPECT_EQ(RedactUrl("https://u:p@host:8443/a/b?X-Amz-Signature=s#f"), "https://host:8443/a/b");
  EXPECT_EQ(RedactUrl("http://host"), "http://host");
  EXPECT_EQ(RedactUrl("http://host?token=1"), "http://host");
  EXPECT_EQ(RedactUrl("not a url?secret"), "not a url");
  EXPECT_EQ(RedactUrl("http://host/p@th?x"), "http://host/p@th");
}

TEST(NormalizeUrlTest, SignedUrlsOfTheSameObjectShareATask) {
  std::string a = Normalize("https://b.s3.amazonaws.com/o?X-Amz-Date=1&X-Amz-Signature=aaa");
  std::string b = Normalize("https://B.s3.amazonaws.com:443/o?X-Amz-Signature=bbb&X-Amz-Date=2");
  EXPECT_EQ(UrlTaskId(a, "", "", 0), UrlTaskId(b, "", "", 0));
}

TEST(DefaultPieceLengthTest, FollowsTheRule) {
  constexpr uint64_t kKiB = 1 << 10;
  constexpr uint64_t kMiB = 1 << 20;
  EXPECT_EQ(DefaultPieceLength(0), 512 * kKiB);
  EXPECT_EQ(DefaultPieceLength(1), 512 * kKiB);
  EXPECT_EQ(DefaultPieceLength(3 * kMiB), 512 * kKiB);
  EXPECT_EQ(DefaultPieceLength(256 * kMiB), 512 * kKiB);
  EXPECT_EQ(DefaultPieceLength(500 * kMiB), 512 * kKiB);
  EXPECT_EQ(DefaultPieceLength(512 * kMiB), 512 * kKiB);        // 512 KiB exactly
  EXPECT_EQ(DefaultPieceLength(512 * kMiB + 1024), 1 * kMiB);   // just over 512 KiB
  EXPECT_EQ(DefaultPieceLength(1024 * kMiB), 1 * kMiB);         // 1 MiB exactly
  EXPECT_EQ(DefaultPieceLength(1024 * kMiB + 1024), 2 * kMiB);  // just over 1 MiB
  EXPECT_EQ(DefaultPieceLength(5000 * kMiB), 8 * kMiB);         // 5 MiB -> 8 MiB
  EXPECT_EQ(DefaultPieceLength(32000 * kMiB), 32 * kMiB);
  EXPECT_EQ(DefaultPieceLength(64000 * kMiB), 64 * kMiB);
  EXPECT_EQ(DefaultPieceLength(uint64_t{1} << 50), 64 * kMiB);
}

TEST(SourceClientTest, ValidatesSchemes) {
  EXPECT_TRUE(ValidateSourceUrl("http://h/f").ok());
  EXPECT_TRUE(ValidateSourceUrl("HTTPS://h/f").ok());
  Status ftp = ValidateSourceUrl("ftp://h/file?token=secret");
  EXPECT_EQ(ftp.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ftp.message(), "unsupported URL scheme 'ftp' in 'ftp://h/file'");
  EXPECT_EQ(ValidateSourceUrl("h/f").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(NewSourceClient("http://h/f").ok());
  EXPECT_EQ(NewSourceClient("s3://b/k").status().code(), StatusCode::kInvalidArgument);
}

TEST(UrlCredentialsTest, SignedUrlsAndUserinfoCarryCredentials) {
  EXPECT_FALSE(UrlCarriesCredentials("http://origin/file"));
  EXPECT_FALSE(UrlCarriesCredentials("http://origin/file?v=2&ns=docker.io&Expires=1"));
  EXPECT_TRUE(UrlCarriesCredentials("http://user:pw@origin/file"));
  EXPECT_TRUE(UrlCarriesCredentials(
      "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab"));
  EXPECT_TRUE(UrlCarriesCredentials("https://host/k?Signature=x&Expires=1"));
  EXPECT_TRUE(UrlCarriesCredentials("https://acct.blob.core.windows.net/c/b?sv=1&sig=abc"));
  EXPECT_TRUE(UrlCarriesCredentials("https://host/k?a=1&TOKEN=t"));
  EXPECT_TRUE(UrlCarriesCredentials("not a url")) << "unparsable counts as private";
  EXPECT_TRUE(IsCredentialHeader("authorization"));
  EXPECT_TRUE(IsCredentialHeader("Cookie"));
  EXPECT_TRUE(IsCredentialHeader("Proxy-Authorization"));
  EXPECT_FALSE(IsCredentialHeader("X-Request-Id"));
}

}  // namespace
}  // namespace feilong::source
