// IndexImage, LazyImage::Open of an index and IndexChunkReader together:
// what `flimage index` writes and `check` and `unpack` read, on layouts
// made here; and the damaged inputs a reader must refuse.
#include "image/indexer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "image/checker.h"
#include "image/chunk_codec.h"
#include "image/index_reader.h"
#include "image/lazy_image.h"
#include "support/temp_dir.h"
#include "test_layers.h"

namespace feilong::image {
namespace {

using fixture::Entry;
using fixture::Filter;
using fixture::Layer;

constexpr uint32_t kChunk = 4096;

// Compresses about 2:1, so that checkpoints every 64 KiB of stream are
// also 32 KiB apart in the blob.
std::string Text(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out;
  while (out.size() < size) {
    out += "line " + std::to_string(random()) + " " + std::to_string(random()) + "\n";
  }
  out.resize(size);
  return out;
}

std::vector<Layer> Layers() {
  return {
      {{{.name = "etc/", .type = 0040000, .perm = 0755},
        {.name = "etc/big", .data = Text(300u << 10, 1)},
        {.name = "etc/other", .data = Text(200u << 10, 2)},
        {.name = "etc/link", .data = "etc/big", .hard_link = true},
        {.name = "etc/gone", .data = "deleted above"}},
       Filter::kGzip},
      {{{.name = "etc/.wh.gone"}, {.name = "etc/plain", .data = Text(9000, 3)}}, Filter::kNone},
      {{{.name = "opt/z", .data = Text(50000, 4)}, {.name = "opt/same", .data = Text(9000, 3)}},
       Filter::kZstd},
  };
}

// `tar` compressed in pieces of `piece` bytes: zstd frames, or gzip members.
std::string InPieces(const std::string& tar, size_t piece, bool zstd) {
  std::string out;
  for (size_t at = 0; at < tar.size(); at += piece) {
    const std::string part = tar.substr(at, piece);
    if (zstd) {
      std::string frame(ZSTD_compressBound(part.size()), '\0');
      frame.resize(ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 3));
      out += frame;
      continue;
    }
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string member(deflateBound(&z, part.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    z.avail_in = static_cast<uInt>(part.size());
    z.next_out = reinterpret_cast<Bytef*>(member.data());
    z.avail_out = static_cast<uInt>(member.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    member.resize(z.total_out);
    deflateEnd(&z);
    out += member;
  }
  return out;
}

class IndexerTest : public ::testing::Test {
 protected:
  IndexerTest() : layout_(*OciLayout::OpenOrCreate(dir_.Path("layout"))) {
    options_.chunk_size = kChunk;
    options_.checkpoint_spacing = 64u << 10;
  }

  // Writes an artifact like `index` but with `subject` and `table`.
  Descriptor Rewrite(const Descriptor& index, const Descriptor& subject,
                     const CheckpointTable& table) {
    ImageManifest manifest = *layout_.ReadManifest(index);
    manifest.subject = Descriptor{subject.media_type, subject.digest, subject.size, {}, {}, {}};
    manifest.layers[1] =
        *layout_.PutBlob(*CompressMetadata(table.Encode()), kFeilongCheckpointsType);
    return *layout_.PutBlob(manifest.Encode(), kOciManifestType);
  }

  // An image of one layer: `entries` as a tar (then `padding` zero bytes,
  // which tar readers ignore) compressed in pieces.
  Descriptor AddPiecewiseImage(const std::vector<Entry>& entries, size_t piece, bool zstd,
                               size_t padding = 0) {
    fixture::WriteLayer(dir_.Path("layer.tar"), entries);
    const std::string blob =
        InPieces(*test::ReadFile(dir_.Path("layer.tar")) + std::string(padding, '\0'), piece, zstd);
    ImageManifest manifest;
    manifest.media_type = std::string(kOciManifestType);
    manifest.layers.push_back(
        *layout_.PutBlob(blob, zstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                    : "application/vnd.oci.image.layer.v1.tar+gzip"));
    manifest.config = *layout_.PutBlob(R"({"architecture":"amd64","os":"linux"})", kOciConfigType);
    return *layout_.PutBlob(manifest.Encode(), kOciManifestType);
  }

  test::TempDir dir_;
  OciLayout layout_;
  IndexOptions options_;
};

TEST_F(IndexerTest, AnIndexReadsLikeTheImageAndLeavesItAsItIs) {
  const Descriptor image = fixture::AddImage(layout_, "app", Layers());
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(layout_.Resolve("app", Platform::Host())->digest, image.digest);
  EXPECT_GE(report->checkpoints, 4u);  // gzip every 64 KiB of 500 KiB, zstd's start
  EXPECT_EQ(report->whole_layers, std::vector<size_t>{2});

  Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
  ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
  ASSERT_TRUE(lazy->IsIndex());
  EXPECT_EQ(lazy->source_manifest->digest, image.digest);
  EXPECT_EQ(lazy->metadata.blobs[0].kind, BlobKind::kLayerGzip);
  EXPECT_EQ(lazy->metadata.blobs[1].kind, BlobKind::kLayerTar);
  EXPECT_TRUE(lazy->checkpoints.layers[2].whole);
  Result<VerifyReport> verified = VerifyImage(layout_, *lazy);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->chunks, lazy->metadata.chunks.size());
  Result<std::vector<std::string>> differences = CompareWithSource(*lazy, layout_, image);
  ASSERT_TRUE(differences.ok()) << differences.status().ToString();
  EXPECT_TRUE(differences->empty()) << (*differences)[0];

  // Backwards and shuffled: the reader starts again from checkpoints.
  std::unique_ptr<ChunkReader> reader = MakeChunkReader(layout_, *lazy);
  std::vector<uint32_t> order(lazy->metadata.chunks.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    order[i] = static_cast<uint32_t>(order.size()) - 1 - i;
  }
  std::shuffle(order.begin() + static_cast<ptrdiff_t>(order.size() / 2), order.end(),
               std::mt19937(7));
  for (uint32_t i : order) {
    ASSERT_TRUE(reader->Read(i).ok()) << "chunk " << i;
  }

  Result<IndexReport> again = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->manifest.digest, report->manifest.digest);  // reproducible
}

TEST_F(IndexerTest, ZstdFramesAndGzipMembersAreReadThrough) {
  const std::vector<Entry> entries = {{.name = "a", .data = Text(400u << 10, 5)},
                                      {.name = "b", .data = Text(300u << 10, 6)}};
  for (bool zstd : {true, false}) {
    const Descriptor image = AddPiecewiseImage(entries, 50000, zstd);
    Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->whole_layers.empty());
    Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
    ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
    const LayerCheckpoints& layer = lazy->checkpoints.layers[0];
    EXPECT_GE(layer.checkpoints.size(), 8u) << "zstd " << zstd;  // 700 KiB, every 64 KiB
    EXPECT_FALSE(layer.whole);
    Result<VerifyReport> verified = VerifyImage(layout_, *lazy);
    EXPECT_TRUE(verified.ok()) << verified.status().ToString();
    Result<std::vector<std::string>> differences = CompareWithSource(*lazy, layout_, image);
    ASSERT_TRUE(differences.ok()) << differences.status().ToString();
    EXPECT_TRUE(differences->empty()) << (*differences)[0];
  }
}

// Sizes of the spilled stretches an index reader holds open in `dir`.
std::vector<uint64_t> SpillSizes(const std::string& dir) {
  std::vector<uint64_t> sizes;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(fd.path(), error).string();
    struct stat st {};
    if (!error && target.starts_with(dir + "/flimage-layer-") &&
        ::stat(fd.path().c_str(), &st) == 0) {
      sizes.push_back(static_cast<uint64_t>(st.st_size));
    }
  }
  return sizes;
}

TEST_F(IndexerTest, ALargeStretchIsSpilledToTheScratchDirectoryOnlyAsFarAsChunksNeed) {
  // 17 MiB of files: one stretch above kMaxSegmentBytes, gzip with no
  // checkpoint inside, and zstd as one frame followed by 48 MiB of zeros
  // the table counts in its stream (a small blob that inflates far).
  const std::vector<Entry> entries = {{.name = "a", .data = Text(9u << 20, 8)},
                                      {.name = "b", .data = Text(8u << 20, 9)}};
  options_.checkpoint_spacing = 1ull << 30;
  options_.chunk_size = 256u << 10;
  ASSERT_TRUE(std::filesystem::create_directory(dir_.Path("scratch")));
  for (bool zstd : {false, true}) {
    const Descriptor image = AddPiecewiseImage(entries, 1ull << 30, zstd, zstd ? (48u << 20) : 0);
    Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
    ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
    const LayerCheckpoints& layer = lazy->checkpoints.layers[0];
    ASSERT_EQ(layer.checkpoints.size(), 1u);
    ASSERT_GT(layer.stream_size, kMaxSegmentBytes);
    uint64_t last_end = 0;
    for (const ChunkRecord& chunk : lazy->metadata.chunks) {
      last_end = std::max<uint64_t>(last_end, chunk.compressed_offset + chunk.uncompressed_size);
    }

    // Backwards: each read comes from the spill, grown once to the end.
    std::unique_ptr<ChunkReader> reader = MakeChunkReader(layout_, *lazy, dir_.Path("scratch"));
    for (uint32_t i = static_cast<uint32_t>(lazy->metadata.chunks.size()); i-- > 0;) {
      Result<std::vector<uint8_t>> chunk = reader->Read(i);
      ASSERT_TRUE(chunk.ok()) << "chunk " << i << ": " << chunk.status().ToString();
    }
    EXPECT_EQ(SpillSizes(dir_.Path("scratch")), std::vector<uint64_t>{last_end})
        << "zstd " << zstd << ", stream " << layer.stream_size;
  }
}

TEST_F(IndexerTest, ASpillWhoseDecoderWentToOtherLayersIsFinishedOnItsNextGrowth) {
  // Three one-frame zstd layers of 17 MiB, each chunk distinct (a counter
  // in zeros): every layer is one spilled stretch.
  std::string data(17u << 20, '\0');
  ImageManifest manifest;
  manifest.media_type = std::string(kOciManifestType);
  for (int layer = 0; layer < 3; ++layer) {
    for (size_t at = 0; at < data.size(); at += 4096) {
      const uint64_t mark = at * 3 + static_cast<uint64_t>(layer);
      std::memcpy(data.data() + at, &mark, sizeof mark);
    }
    fixture::WriteLayer(dir_.Path("layer.tar"),
                        {{.name = "f" + std::to_string(layer), .data = data}});
    manifest.layers.push_back(*layout_.PutBlob(
        InPieces(*test::ReadFile(dir_.Path("layer.tar")), 1ull << 30, /*zstd=*/true),
        "application/vnd.oci.image.layer.v1.tar+zstd"));
  }
  manifest.config = *layout_.PutBlob(R"({"architecture":"amd64","os":"linux"})", kOciConfigType);
  const Descriptor image = *layout_.PutBlob(manifest.Encode(), kOciManifestType);
  options_.chunk_size = 64u << 10;
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->whole_layers.size(), 3u);
  Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
  ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
  // Each layer's chunks in stream order.
  std::vector<std::vector<uint32_t>> chunks(3);
  for (uint32_t i = 0; i < lazy->metadata.chunks.size(); ++i) {
    chunks[lazy->metadata.chunks[i].blob_index].push_back(i);
  }
  for (std::vector<uint32_t>& layer : chunks) {
    std::sort(layer.begin(), layer.end(), [&](uint32_t a, uint32_t b) {
      return lazy->metadata.chunks[a].compressed_offset <
             lazy->metadata.chunks[b].compressed_offset;
    });
  }
  auto end_of = [&](uint32_t i) {
    return lazy->metadata.chunks[i].compressed_offset + lazy->metadata.chunks[i].uncompressed_size;
  };

  ASSERT_TRUE(std::filesystem::create_directory(dir_.Path("scratch")));
  const std::string scratch = dir_.Path("scratch");
  std::unique_ptr<ChunkReader> reader = MakeChunkReader(layout_, *lazy, scratch);
  for (int layer : {0, 1, 2}) {  // the third takes layer 0's decoder (kMaxCursors is 2)
    ASSERT_TRUE(reader->Read(chunks[layer][0]).ok());
  }
  ASSERT_TRUE(reader->Read(chunks[1][1]).ok());  // layer 1 keeps its decoder: grows as needed
  ASSERT_TRUE(reader->Read(chunks[0][1]).ok());  // layer 0 starts again: finished now
  std::vector<uint64_t> sizes = SpillSizes(scratch);
  std::sort(sizes.begin(), sizes.end());
  const std::vector<uint64_t> expected = {end_of(chunks[2][0]), end_of(chunks[1][1]),
                                          end_of(chunks[0].back())};
  EXPECT_EQ(sizes, expected);
}

TEST_F(IndexerTest, OnlyAZstdLayerOfOneFrameIsMarkedWhole) {
  // Frames of 50 KB but checkpoints at most every 1 GiB: one checkpoint,
  // many frames, not whole.
  const std::vector<Entry> entries = {{.name = "a", .data = Text(300u << 10, 10)}};
  options_.checkpoint_spacing = 1ull << 30;
  for (size_t piece : {size_t{50000}, size_t{1} << 30}) {
    const Descriptor image = AddPiecewiseImage(entries, piece, /*zstd=*/true);
    Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
    ASSERT_TRUE(lazy.ok()) << lazy.status().ToString();
    EXPECT_EQ(lazy->checkpoints.layers[0].checkpoints.size(), 1u);
    const bool one_frame = piece > (1u << 20);
    EXPECT_EQ(lazy->checkpoints.layers[0].whole, one_frame) << piece;
    EXPECT_EQ(report->whole_layers.size(), one_frame ? 1u : 0u) << piece;
  }
}

TEST_F(IndexerTest, ALayerThatChangedIsCorruption) {
  const Descriptor image = fixture::AddImage(layout_, "app", Layers());
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  Result<LazyImage> lazy = LazyImage::Open(layout_, report->manifest);
  ASSERT_TRUE(lazy.ok());

  // Another image (other layers) under the same index.
  std::vector<Layer> other = Layers();
  other[1].entries[1].data = "changed";
  const Descriptor changed = fixture::AddImage(layout_, "changed", other);
  Result<LazyImage> mismatched =
      LazyImage::Open(layout_, Rewrite(report->manifest, changed, lazy->checkpoints));
  EXPECT_TRUE(mismatched.status().IsCorruption()) << mismatched.status().ToString();
  EXPECT_NE(mismatched.status().message().find("is not the layer indexed"), std::string::npos);

  // The layer blob itself damaged in place: check and reads refuse it.
  const std::string path = layout_.BlobPath(lazy->blobs[0].digest);
  std::string bytes = *test::ReadFile(path);
  for (size_t i = 100; i < bytes.size(); i += 997) {
    bytes[i] = static_cast<char>(bytes[i] ^ 0x21);
  }
  ASSERT_TRUE(test::WriteFile(path, bytes).ok());
  EXPECT_TRUE(VerifyImage(layout_, *lazy).status().IsCorruption());
  std::unique_ptr<ChunkReader> reader = MakeChunkReader(layout_, *lazy);
  size_t refused = 0;
  for (uint32_t i = 0; i < lazy->metadata.chunks.size(); ++i) {
    Result<std::vector<uint8_t>> chunk = reader->Read(i);
    if (lazy->metadata.chunks[i].blob_index == 0) {
      refused += chunk.status().IsCorruption() ? 1 : 0;
      // A chunk whose stretch, up to its own end, missed the damage reads
      // (its digest is checked); the rest are refused.
      EXPECT_TRUE(chunk.ok() || chunk.status().IsCorruption()) << chunk.status().ToString();
    }
  }
  EXPECT_GT(refused, 0u);
}

TEST_F(IndexerTest, ACheckpointBeyondItsLayerOrAMissingImageIsRefused) {
  const Descriptor image = fixture::AddImage(layout_, "app", Layers());
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  CheckpointTable table = LazyImage::Open(layout_, report->manifest)->checkpoints;

  CheckpointTable shrunk = table;  // the layer said smaller than it is
  shrunk.layers[0].blob_size = shrunk.layers[0].checkpoints.back().blob_offset;
  CheckpointTable short_stream = table;  // chunks past the stream's end
  short_stream.layers[1].stream_size = short_stream.layers[1].blob_size = 100;
  for (const CheckpointTable* bad : {&shrunk, &short_stream}) {
    Result<LazyImage> refused = LazyImage::Open(layout_, Rewrite(report->manifest, image, *bad));
    EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  }
  // Larger than the image's layers allow (a window per 32 KiB of them).
  ImageManifest padded = *layout_.ReadManifest(report->manifest);
  padded.layers[1] = *layout_.PutBlob(
      *CompressMetadata(table.Encode() + std::string(4u << 20, '\0')), kFeilongCheckpointsType);
  Result<LazyImage> oversized =
      LazyImage::Open(layout_, *layout_.PutBlob(padded.Encode(), kOciManifestType));
  EXPECT_FALSE(oversized.ok());
  EXPECT_NE(oversized.status().ToString().find("allowed"), std::string::npos)
      << oversized.status().ToString();
  EXPECT_NE(oversized.status().ToString().find("checkpoint table"), std::string::npos)
      << oversized.status().ToString();

  // Not a table at all.
  ImageManifest manifest = *layout_.ReadManifest(report->manifest);
  manifest.layers[1] = *layout_.PutBlob(*CompressMetadata("not a table"), kFeilongCheckpointsType);
  Result<LazyImage> garbage =
      LazyImage::Open(layout_, *layout_.PutBlob(manifest.Encode(), kOciManifestType));
  EXPECT_TRUE(garbage.status().IsCorruption()) << garbage.status().ToString();

  // The index alone, in a layout without its image.
  OciLayout elsewhere = *OciLayout::OpenOrCreate(dir_.Path("elsewhere"));
  ASSERT_TRUE(IndexImage(layout_, image, elsewhere, options_).ok());
  EXPECT_TRUE(LazyImage::Open(elsewhere, report->manifest).status().IsNotFound());
}

TEST_F(IndexerTest, OptionsOutOfRangeAreRefusedAndTheLeastSpacingIsReadable) {
  const Descriptor image = fixture::AddImage(layout_, "app", Layers());
  for (auto [chunk_size, spacing] : {std::pair<uint32_t, uint64_t>{kChunk, 0},
                                     {kChunk, kGzipWindowSize - 1},
                                     {0, 64u << 10},
                                     {3000, 64u << 10},
                                     {kMaxChunkSize * 2, 64u << 10}}) {
    options_.chunk_size = chunk_size;
    options_.checkpoint_spacing = spacing;
    Result<IndexReport> refused = IndexImage(layout_, image, layout_, options_);
    EXPECT_TRUE(refused.status().IsInvalidArgument())
        << chunk_size << " " << spacing << ": " << refused.status().ToString();
  }
  options_.checkpoint_spacing = kGzipWindowSize;  // the least allowed
  options_.chunk_size = kChunk;
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(LazyImage::Open(layout_, report->manifest).ok());
}

TEST_F(IndexerTest, ALazyImageOrAnIndexIsNotIndexedAgain) {
  const Descriptor image = fixture::AddImage(layout_, "app", Layers());
  Result<IndexReport> report = IndexImage(layout_, image, layout_, options_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(
      IndexImage(layout_, report->manifest, layout_, options_).status().IsInvalidArgument());
}

}  // namespace
}  // namespace feilong::image
