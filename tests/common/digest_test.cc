#include "common/digest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace feilong {
namespace {

constexpr char kAbcHex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kEmptyHex[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A file in a fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "digest_test_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& content) {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(HexEncode(Sha256(std::string_view("abc"))), kAbcHex);
  EXPECT_EQ(HexEncode(Sha256(std::string_view(""))), kEmptyHex);
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))), kAbcHex);
}

TEST(Sha256Test, IncrementalEqualsOneShotAndFinishResets) {
  Sha256Hasher h;
  h.Update(std::string_view("a"));
  h.Update(AsBytes("b"));
  h.Update(std::string_view("c"));
  EXPECT_EQ(HexEncode(h.Finish()), kAbcHex);
  // After Finish the hasher starts a new stream.
  EXPECT_EQ(HexEncode(h.Finish()), kEmptyHex);
  h.Update(std::string_view("abc"));
  EXPECT_EQ(HexEncode(h.Finish()), kAbcHex);
}

TEST(Sha256Test, DigestStringRoundTrip) {
  Sha256Digest d = Sha256(std::string_view("abc"));
  std::string s = Sha256String(d);
  EXPECT_EQ(s, std::string("sha256:") + kAbcHex);
  auto parsed = ParseSha256String(s);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, d);
}

TEST(Sha256Test, ParseAcceptsUppercaseHex) {
  std::string upper = std::string("sha256:") + kAbcHex;
  for (size_t i = 7; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  auto parsed = ParseSha256String(upper);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, Sha256(std::string_view("abc")));
}

TEST(Sha256Test, ParseErrors) {
  std::string good = std::string("sha256:") + kAbcHex;
  // Wrong prefix, short, long, non-hex digit, empty.
  for (const std::string& bad :
       {std::string("sha512:") + kAbcHex, std::string(kAbcHex), good.substr(0, good.size() - 1),
        good + "0", good.substr(0, good.size() - 1) + "g", std::string()}) {
    auto r = ParseSha256String(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto r = ParseSha256String("md5:abc");
  EXPECT_NE(r.status().message().find("md5:abc"), std::string::npos) << r.status().message();
}

TEST(HexTest, EncodeIsLowercase) {
  std::vector<uint8_t> bytes = {0x00, 0x0f, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes), "000fabff");
  EXPECT_EQ(HexEncode(std::span<const uint8_t>()), "");
}

TEST(HexTest, RoundTripAllByteValues) {
  std::vector<uint8_t> bytes(256);
  for (int i = 0; i < 256; ++i) {
    bytes[i] = static_cast<uint8_t>(i);
  }
  auto decoded = HexDecode(HexEncode(bytes));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, std::string(bytes.begin(), bytes.end()));
  auto upper = HexDecode("ABCDEF");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, "\xab\xcd\xef");
}

TEST(HexTest, DecodeErrors) {
  auto odd = HexDecode("abc");
  EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(odd.status().message().find("odd length"), std::string::npos);
  auto bad = HexDecode("a0zz");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("position 2"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(HexDecode("0g").ok());
  EXPECT_TRUE(HexDecode("").ok());
}

TEST(Sha256FileTest, MatchesInMemoryDigest) {
  TempDir dir;
  EXPECT_EQ(Sha256File(dir.Write("abc", "abc")).value_or({}), Sha256(std::string_view("abc")));
  EXPECT_EQ(Sha256File(dir.Write("empty", "")).value_or({}), Sha256(std::string_view("")));
  // Larger than the 1 MiB read buffer, not a multiple of it.
  std::string big(3 * (1 << 20) + 123, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 31 + 7);
  }
  auto r = Sha256File(dir.Write("big", big));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Sha256(big));
}

TEST(Sha256FileTest, MissingFileIsNotFoundNamingPath) {
  TempDir dir;
  std::string path = dir.path() + "/does-not-exist";
  auto r = Sha256File(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(path), std::string::npos);
}

TEST(Sha256FileTest, DirectoryIsIOError) {
  TempDir dir;
  auto r = Sha256File(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace feilong
