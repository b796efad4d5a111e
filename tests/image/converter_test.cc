// ConvertImage, VerifyImage, CompareWithSource and UnpackToTar together:
// what `flimage convert`, `check` and `unpack` do, on layouts made here.
#include "image/converter.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "image/checker.h"
#include "image/indexer.h"
#include "image/lazy_image.h"
#include "image/unpacker.h"
#include "support/temp_dir.h"
#include "test_layers.h"

namespace feilong::image {
namespace {

using fixture::Entry;
using fixture::Filter;
using fixture::Layer;

constexpr uint32_t kChunk = 4096;

std::string Pattern(char seed, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>(seed + (i * 7919 % 251));
  }
  return s;
}

// Three layers: a base, one that deletes, hides and edits, and a zstd one.
std::vector<Layer> SampleLayers(const std::string& edited = Pattern('e', 3 * kChunk)) {
  return {
      {{{.name = "etc/", .type = 0040000, .perm = 0755},
        {.name = "etc/hosts", .data = "127.0.0.1 localhost\n"},
        {.name = "etc/old.conf", .data = "old"},
        {.name = "usr/bin/tool", .data = Pattern('t', 5 * kChunk + 17), .perm = 04755},
        {.name = "usr/bin/tool2", .data = "usr/bin/tool", .hard_link = true},
        {.name = "usr/sh", .type = 0120000, .data = "bin/tool"},
        {.name = "var/cache/a", .data = "cached", .xattrs = {{"user.feilong", "yes"}}},
        {.name = "dev/null", .type = 0020000, .perm = 0666, .rdev = makedev(1, 3)},
        {.name = "data/edited", .data = Pattern('e', 3 * kChunk)}},
       Filter::kGzip},
      {{{.name = "etc/.wh.old.conf"},
        {.name = "var/cache/.wh..wh..opq"},
        {.name = "var/cache/b", .data = "new"},
        {.name = "data/edited", .data = edited},
        {.name = "data/copy", .data = Pattern('t', 5 * kChunk + 17)}},
       Filter::kNone},
      {{{.name = "deep/a/b/c/d/file", .data = std::string(kChunk, 'z')}}, Filter::kZstd},
  };
}

class ConverterTest : public ::testing::Test {
 protected:
  ConverterTest()
      : source_(*OciLayout::OpenOrCreate(dir_.Path("source"))),
        destination_(*OciLayout::OpenOrCreate(dir_.Path("destination"))) {
    options_.chunk_size = kChunk;
  }

  Result<ConvertReport> Convert(const Descriptor& manifest) {
    return ConvertImage(source_, manifest, destination_, options_);
  }

  // Every entry of the tar written by UnpackToTar: path -> (mode, content).
  std::map<std::string, std::pair<uint32_t, std::string>> Unpacked(const LazyImage& image) {
    LayoutChunkReader reader(destination_, image);
    const std::string tar = dir_.Path("unpacked.tar");
    EXPECT_TRUE(UnpackToTar(image.metadata, reader, tar).ok());
    std::map<std::string, std::pair<uint32_t, std::string>> entries;
    archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    EXPECT_EQ(archive_read_open_filename(a, tar.c_str(), 1 << 16), ARCHIVE_OK);
    archive_entry* entry = nullptr;
    while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
      std::string content(static_cast<size_t>(archive_entry_size(entry)), '\0');
      archive_read_data(a, content.data(), content.size());
      if (archive_entry_hardlink(entry) != nullptr) {
        content = std::string("link to ") + archive_entry_hardlink(entry);
      }
      entries[archive_entry_pathname(entry)] = {archive_entry_mode(entry), content};
    }
    archive_read_free(a);
    return entries;
  }

  feilong::test::TempDir dir_;
  OciLayout source_;
  OciLayout destination_;
  ConvertOptions options_;
};

TEST_F(ConverterTest, ConvertsVerifiesAndUnpacksToTheMergedTree) {
  const Descriptor source = fixture::AddImage(source_, "v1", SampleLayers());
  Result<ConvertReport> report = Convert(source);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->chunks_reused, 0u);  // data/copy repeats usr/bin/tool

  Result<LazyImage> image = LazyImage::Open(destination_, report->manifest);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->manifest.subject->digest, source.digest);
  EXPECT_EQ(image->manifest.annotations.at(std::string(kFeilongFormatAnnotation)), "1.0");
  EXPECT_EQ(report->manifest.platform->ToString(), "linux/amd64");
  // The config names the new layers and drops the old history.
  const std::string config = *destination_.ReadBlob(image->manifest.config);
  EXPECT_NE(config.find(Sha256String(image->metadata_descriptor.digest)), std::string::npos);
  EXPECT_EQ(config.find("history"), std::string::npos);

  Result<VerifyReport> verified = VerifyImage(destination_, *image);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->chunks, image->metadata.chunks.size());
  Result<std::vector<std::string>> differences = CompareWithSource(*image, source_, source);
  ASSERT_TRUE(differences.ok()) << differences.status().ToString();
  EXPECT_TRUE(differences->empty()) << differences->front();

  auto tar = Unpacked(*image);
  EXPECT_FALSE(tar.contains("etc/old.conf"));  // whited out
  EXPECT_FALSE(tar.contains("var/cache/a"));   // under an opaque directory
  EXPECT_EQ(tar.at("var/cache/b").second, "new");
  EXPECT_EQ(tar.at("usr/bin/tool").second, Pattern('t', 5 * kChunk + 17));
  EXPECT_EQ(tar.at("usr/bin/tool").first, S_IFREG | 04755);
  EXPECT_EQ(tar.at("usr/bin/tool2").second, "link to usr/bin/tool");
  EXPECT_EQ(tar.at("data/copy").second, Pattern('t', 5 * kChunk + 17));
  EXPECT_EQ(tar.at("deep/a/b/c/d/file").second, std::string(kChunk, 'z'));
  EXPECT_EQ(tar.at("dev/null").first, S_IFCHR | 0666);
  EXPECT_TRUE(S_ISLNK(tar.at("usr/sh").first));
}

TEST_F(ConverterTest, TheSameInputGivesTheSameDigests) {
  const Descriptor source = fixture::AddImage(source_, "v1", SampleLayers());
  const Descriptor first = Convert(source)->manifest;
  OciLayout again = *OciLayout::OpenOrCreate(dir_.Path("again"));
  const Descriptor second = ConvertImage(source_, source, again, options_)->manifest;
  EXPECT_EQ(first.digest, second.digest);
}

TEST_F(ConverterTest, AChunkDictionaryKeepsSharedChunksOutOfTheNewBlobs) {
  const Descriptor v1 = fixture::AddImage(source_, "v1", SampleLayers());
  std::string edited = Pattern('e', 3 * kChunk);
  edited[kChunk + 5] = '!';  // one chunk of one file changes
  const Descriptor v2 = fixture::AddImage(source_, "v2", SampleLayers(edited));
  const ConvertReport lazy_v1 = *Convert(v1);

  OciLayout other = *OciLayout::OpenOrCreate(dir_.Path("other"));
  options_.dictionaries = {{&destination_, lazy_v1.manifest}};
  Result<ConvertReport> lazy_v2 = ConvertImage(source_, v2, other, options_);
  ASSERT_TRUE(lazy_v2.ok()) << lazy_v2.status().ToString();
  EXPECT_EQ(lazy_v2->chunks_stored, 1u);  // only the edited chunk
  // The dictionary's blobs it uses were copied in: the image is whole.
  LazyImage image = *LazyImage::Open(other, lazy_v2->manifest);
  EXPECT_TRUE(VerifyImage(other, image).ok());
  EXPECT_TRUE(CompareWithSource(image, source_, v2)->empty());
  // And it is not v1.
  Result<std::vector<std::string>> differences = CompareWithSource(image, source_, v1);
  ASSERT_TRUE(differences.ok());
  ASSERT_EQ(differences->size(), 1u);
  EXPECT_EQ(differences->front(), "/data/edited: bytes differ in chunk 1");
}

TEST_F(ConverterTest, AnIndexIsRefusedAsAChunkDictionary) {
  const Descriptor v1 = fixture::AddImage(source_, "v1", SampleLayers());
  IndexOptions index_options;
  index_options.chunk_size = kChunk;
  Result<IndexReport> index = IndexImage(source_, v1, source_, index_options);
  ASSERT_TRUE(index.ok()) << index.status().ToString();

  options_.dictionaries = {{&source_, index->manifest}};
  Result<ConvertReport> refused = Convert(v1);
  EXPECT_TRUE(refused.status().IsInvalidArgument()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find(Sha256String(index->manifest.digest)),
            std::string::npos)
      << refused.status().ToString();
}

TEST_F(ConverterTest, PrefetchTakesPathsAndPatternsAndReportsWhatNamesNothing) {
  const Descriptor source = fixture::AddImage(source_, "v1", SampleLayers());
  options_.prefetch = {"/etc/hosts", "usr/bin/*", "/no/such", "*.nothing", "etc/hosts"};
  Result<ConvertReport> report = Convert(source);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->prefetch_missing, (std::vector<std::string>{"/no/such", "*.nothing"}));
  LazyImage image = *LazyImage::Open(destination_, report->manifest);
  const std::vector<std::string> paths = image.metadata.Paths();
  std::vector<std::string> prefetch;
  for (uint32_t inode : image.metadata.prefetch) {
    prefetch.push_back(paths[inode]);
  }
  // usr/bin/tool2 is the same inode as usr/bin/tool: listed once.
  EXPECT_EQ(prefetch, (std::vector<std::string>{"/etc/hosts", "/usr/bin/tool"}));
}

TEST_F(ConverterTest, RefusesWhatIsNotAnImageOfTarLayers) {
  const Descriptor source = fixture::AddImage(source_, "v1", SampleLayers());
  const ConvertReport lazy = *Convert(source);
  OciLayout again = *OciLayout::OpenOrCreate(dir_.Path("again"));
  EXPECT_TRUE(
      ConvertImage(destination_, lazy.manifest, again, options_).status().IsInvalidArgument());

  ImageManifest odd = *source_.ReadManifest(source);
  odd.layers[0].media_type = "application/octet-stream";
  const Descriptor odd_descriptor = *source_.PutBlob(odd.Encode(), kOciManifestType);
  Result<ConvertReport> refused = Convert(odd_descriptor);
  EXPECT_TRUE(refused.status().IsInvalidArgument());
  EXPECT_NE(refused.status().message().find("layer 0"), std::string::npos);
  // Neither is a lazy image, and the source is not one to check against.
  EXPECT_TRUE(LazyImage::Open(source_, source).status().IsInvalidArgument());
}

TEST_F(ConverterTest, DamagedLayersAndBlobsAreCorruptionNotACrash) {
  const Descriptor source = fixture::AddImage(source_, "v1", SampleLayers());
  const ImageManifest manifest = *source_.ReadManifest(source);

  // A layer whose bytes do not match its digest is refused before use.
  const std::string layer_path = source_.BlobPath(manifest.layers[1].digest);
  const std::string layer = *feilong::test::ReadFile(layer_path);
  ASSERT_TRUE(feilong::test::WriteFile(layer_path, layer.substr(0, layer.size() / 2)).ok());
  EXPECT_TRUE(Convert(source).status().IsCorruption());

  // A truncated layer that does match its (new) digest: Corruption naming it.
  ImageManifest truncated = manifest;
  truncated.layers[1] =
      *source_.PutBlob(layer.substr(0, layer.size() / 2), manifest.layers[1].media_type);
  const Descriptor truncated_descriptor = *source_.PutBlob(truncated.Encode(), kOciManifestType);
  Result<ConvertReport> refused = Convert(truncated_descriptor);
  EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("layer 1"), std::string::npos);
  // No half-written blob is left behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Path("destination/blobs/.ingest")));

  // A data blob damaged after conversion fails check.
  ASSERT_TRUE(feilong::test::WriteFile(layer_path, layer).ok());
  const ConvertReport lazy = *Convert(source);
  LazyImage image = *LazyImage::Open(destination_, lazy.manifest);
  const std::string blob_path = destination_.BlobPath(image.blobs[0].digest);
  std::string blob = *feilong::test::ReadFile(blob_path);
  blob[10] ^= 1;
  ASSERT_TRUE(feilong::test::WriteFile(blob_path, blob).ok());
  EXPECT_TRUE(VerifyImage(destination_, image).status().IsCorruption());
  LayoutChunkReader reader(destination_, image);
  EXPECT_TRUE(UnpackToTar(image.metadata, reader, dir_.Path("out.tar")).status().IsCorruption());
}

}  // namespace
}  // namespace feilong::image
