#include "image/oci_layout.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/temp_dir.h"
#include "test_layers.h"

namespace feilong::image {
namespace {

TEST(PlatformTest, ParsesOsArchAndVariant) {
  EXPECT_EQ(*Platform::Parse("linux/amd64"), (Platform{"linux", "amd64", ""}));
  EXPECT_EQ(*Platform::Parse("linux/arm64/v8"), (Platform{"linux", "arm64", "v8"}));
  for (const char* bad : {"", "linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/arm/"}) {
    EXPECT_TRUE(Platform::Parse(bad).status().IsInvalidArgument()) << bad;
  }
}

TEST(ImageManifestTest, EncodesCanonicallyAndParsesBack) {
  ImageManifest m;
  m.media_type = std::string(kOciManifestType);
  m.config = {std::string(kOciConfigType), Sha256("config"), 6, {}, {}, {}};
  m.layers.push_back({"application/vnd.oci.image.layer.v1.tar", Sha256("layer"), 5, {}, {}, {}});
  m.subject = Descriptor{std::string(kOciManifestType), Sha256("source"), 6, {}, {}, {}};
  m.annotations["b"] = "2";
  m.annotations["a"] = "1";
  const std::string text = m.Encode();
  EXPECT_LT(text.find("\"a\""), text.find("\"b\""));  // sorted keys: reproducible bytes
  Result<ImageManifest> back = ImageManifest::Parse(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Encode(), text);
  EXPECT_EQ(back->layers[0].digest, Sha256("layer"));
  EXPECT_EQ(back->subject->digest, Sha256("source"));
}

TEST(ImageManifestTest, RefusesWhatIsNoImageManifest) {
  const char* bad[] = {
      "not json",
      "[]",
      R"({"schemaVersion":1})",
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})",
      R"({"schemaVersion":2,"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:00","size":1},"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","size":-1},"layers":[]})",
  };
  for (const char* text : bad) {
    EXPECT_TRUE(ImageManifest::Parse(text).status().IsInvalidArgument()) << text;
  }
}

TEST(OciLayoutTest, CreatesALayoutAndRefusesADirectoryThatIsNone) {
  feilong::test::TempDir dir;
  EXPECT_TRUE(OciLayout::Open(dir.Path("none")).status().IsInvalidArgument());
  ASSERT_TRUE(OciLayout::OpenOrCreate(dir.Path("new")).ok());
  EXPECT_TRUE(OciLayout::Open(dir.Path("new")).ok());
  std::filesystem::create_directories(dir.Path("other"));
  ASSERT_TRUE(feilong::test::WriteFile(dir.Path("other/file"), "x").ok());
  EXPECT_TRUE(OciLayout::OpenOrCreate(dir.Path("other")).status().IsInvalidArgument());
}

TEST(OciLayoutTest, BlobsAreCheckedAgainstTheirDescriptors) {
  feilong::test::TempDir dir;
  OciLayout layout = *OciLayout::OpenOrCreate(dir.path());
  Descriptor d = *layout.PutBlob("hello", "text/plain");
  EXPECT_EQ(*layout.ReadBlob(d), "hello");
  EXPECT_TRUE(layout.VerifyBlob(d).ok());
  Descriptor absent = d;
  absent.digest = Sha256("other");
  EXPECT_TRUE(layout.ReadBlob(absent).status().IsNotFound());
  EXPECT_TRUE(layout.VerifyBlob(absent).IsNotFound());
  EXPECT_TRUE(layout.ReadBlob(d, 4).status().IsInvalidArgument());  // over the limit

  ASSERT_TRUE(feilong::test::WriteFile(layout.BlobPath(d.digest), "jello").ok());
  EXPECT_TRUE(layout.ReadBlob(d).status().IsCorruption());
  EXPECT_TRUE(layout.VerifyBlob(d).IsCorruption());
}

TEST(OciLayoutTest, ResolvesTagsDigestsAndTheOnlyImage) {
  feilong::test::TempDir dir;
  OciLayout layout = *OciLayout::OpenOrCreate(dir.path());
  EXPECT_TRUE(layout.Resolve("", Platform::Host()).status().IsInvalidArgument());  // empty
  const Descriptor one = fixture::AddImage(layout, "one", {{{{.name = "a", .data = "1"}}}});
  EXPECT_EQ(layout.Resolve("", Platform::Host())->digest, one.digest);
  const Descriptor two = fixture::AddImage(layout, "two", {{{{.name = "a", .data = "2"}}}});
  EXPECT_EQ(layout.Resolve("one", Platform::Host())->digest, one.digest);
  EXPECT_EQ(layout.Resolve("two", Platform::Host())->digest, two.digest);
  EXPECT_EQ(layout.Resolve(Sha256String(two.digest), Platform::Host())->digest, two.digest);
  EXPECT_TRUE(layout.Resolve("three", Platform::Host()).status().IsNotFound());
  Result<Descriptor> ambiguous = layout.Resolve("", Platform::Host());
  EXPECT_TRUE(ambiguous.status().IsInvalidArgument());
  EXPECT_NE(ambiguous.status().message().find("one two"), std::string::npos);

  // A tag names one image: tagging again moves it.
  ASSERT_TRUE(layout.Tag(two, "one").ok());
  EXPECT_EQ(layout.Resolve("one", Platform::Host())->digest, two.digest);
}

TEST(OciLayoutTest, AnIndexResolvesToTheManifestOfThePlatform) {
  feilong::test::TempDir dir;
  OciLayout layout = *OciLayout::OpenOrCreate(dir.path());
  Descriptor amd = fixture::AddImage(layout, "amd", {{{{.name = "a", .data = "amd"}}}});
  Descriptor arm = fixture::AddImage(layout, "arm", {{{{.name = "a", .data = "arm"}}}});
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      Sha256String(amd.digest) + R"(","size":)" + std::to_string(amd.size) +
      R"(,"platform":{"os":"linux","architecture":"amd64"}},)"
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      Sha256String(arm.digest) + R"(","size":)" + std::to_string(arm.size) +
      R"(,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]})";
  Descriptor multi = *layout.PutBlob(index, kOciIndexType);
  ASSERT_TRUE(layout.Tag(multi, "multi").ok());
  EXPECT_EQ(layout.Resolve("multi", *Platform::Parse("linux/amd64"))->digest, amd.digest);
  EXPECT_EQ(layout.Resolve("multi", *Platform::Parse("linux/arm64"))->digest, arm.digest);
  EXPECT_EQ(layout.Resolve("multi", *Platform::Parse("linux/arm64/v8"))->digest, arm.digest);
  Result<Descriptor> none = layout.Resolve("multi", *Platform::Parse("linux/s390x"));
  EXPECT_TRUE(none.status().IsNotFound());
  EXPECT_NE(none.status().message().find("linux/amd64 linux/arm64/v8"), std::string::npos)
      << none.status().message();
}

}  // namespace
}  // namespace feilong::image
