#include "image/blob_sink.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "image/chunk_codec.h"
#include "support/temp_dir.h"

namespace feilong::image {
namespace {

constexpr uint32_t kChunk = 4096;

std::vector<uint8_t> Bytes(char fill, size_t n = kChunk) { return std::vector<uint8_t>(n, fill); }

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The uncompressed bytes of chunk `index` of `m`, read from the blob files
// (`paths` by blob index).
std::vector<uint8_t> ReadChunk(const Metadata& m, uint32_t index,
                               const std::vector<std::string>& paths) {
  const ChunkRecord& c = m.chunks[index];
  const std::string blob = *test::ReadFile(paths.at(c.blob_index));
  Result<std::vector<uint8_t>> data =
      LoadChunk(c, Span(blob).subspan(c.compressed_offset, c.compressed_size));
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  return data.value_or({});
}

TEST(BlobChunkSinkTest, EachDistinctChunkIsStoredOnceAcrossLayers) {
  test::TempDir dir;
  TreeBuilder builder(kChunk);
  BlobChunkSink sink(builder, Compression::kZstd);
  EXPECT_TRUE(sink.Put(Bytes('a'), 0).status().code() == StatusCode::kFailedPrecondition);

  ASSERT_TRUE(sink.StartBlob(dir.Path("layer0")).ok());
  EXPECT_TRUE(sink.StartBlob(dir.Path("other")).code() == StatusCode::kFailedPrecondition);
  const uint32_t a = *sink.Put(Bytes('a'), 0);
  const uint32_t b = *sink.Put(Bytes('b'), 0);
  EXPECT_EQ(*sink.Put(Bytes('a'), 0), a);
  ASSERT_TRUE(sink.FinishBlob().ok());
  ASSERT_TRUE(builder.AddRegular("first", {.mode = 0644}, 3 * kChunk, {a, b, a}).ok());

  builder.BeginLayer();
  ASSERT_TRUE(sink.StartBlob(dir.Path("layer1")).ok());
  EXPECT_EQ(*sink.Put(Bytes('b'), 0), b);
  const uint32_t c = *sink.Put(Bytes('c', 10), 0);
  ASSERT_TRUE(sink.FinishBlob().ok());
  ASSERT_TRUE(builder.AddRegular("second", {.mode = 0644}, kChunk + 10, {b, c}).ok());
  EXPECT_EQ(sink.stored(), 3u);
  EXPECT_EQ(sink.reused(), 2u);

  Result<Metadata> built = builder.Build();
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  Result<Metadata> m = Metadata::Decode(built->Encode());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::vector<std::string> paths = {dir.Path("layer0"), dir.Path("layer1")};
  EXPECT_EQ(ReadChunk(*m, a, paths), Bytes('a'));
  EXPECT_EQ(ReadChunk(*m, b, paths), Bytes('b'));
  EXPECT_EQ(ReadChunk(*m, c, paths), Bytes('c', 10));
  EXPECT_EQ(m->chunks[c].blob_index, 1u);
  EXPECT_EQ(ReadBlobTable(Span(*test::ReadFile(paths[1])))->size(), 1u);  // only 'c'
}

TEST(BlobChunkSinkTest, ChunksOfADictionaryAreReferencedNotStoredAgain) {
  test::TempDir dir;
  BlobRecord old_blob;
  {
    TreeBuilder builder(kChunk);
    BlobChunkSink sink(builder, Compression::kLz4);
    ASSERT_TRUE(sink.StartBlob(dir.Path("old")).ok());
    ASSERT_TRUE(sink.Put(Bytes('a'), 0).ok());
    ASSERT_TRUE(sink.Put(Bytes('b'), 0).ok());
    old_blob = **sink.FinishBlob();
  }
  const std::string old_bytes = *test::ReadFile(dir.Path("old"));
  const std::vector<ChunkRecord> old_chunks = *ReadBlobTable(Span(old_bytes));

  TreeBuilder builder(kChunk);
  BlobChunkSink sink(builder, Compression::kZstd);
  sink.AddDictionary(old_blob, old_chunks);
  ChunkRecord unused_chunk;
  unused_chunk.digest = Sha256(Bytes('z'));
  sink.AddDictionary(BlobRecord{Sha256("another image"), 1 << 20, 1},
                     std::vector<ChunkRecord>{unused_chunk});
  ASSERT_TRUE(sink.StartBlob(dir.Path("new")).ok());
  const uint32_t b = *sink.Put(Bytes('b'), 0);
  const uint32_t d = *sink.Put(Bytes('d'), 0);
  ASSERT_TRUE(sink.FinishBlob().ok());
  EXPECT_EQ(sink.reused(), 1u);
  EXPECT_EQ(sink.stored(), 1u);
  ASSERT_TRUE(builder.AddRegular("f", {.mode = 0644}, 2 * kChunk, {b, d}).ok());
  Result<Metadata> m = builder.Build();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->chunks.size(), 2u);  // the unused dictionary chunk 'a' is not listed
  EXPECT_EQ(m->blobs.size(), 2u);   // nor the blob none of whose chunks is used
  EXPECT_EQ(m->blobs[m->chunks[b].blob_index].digest, old_blob.digest);
  const std::vector<std::string> paths = {dir.Path("old"), dir.Path("new")};
  EXPECT_EQ(ReadChunk(*m, b, paths), Bytes('b'));
  EXPECT_EQ(ReadChunk(*m, d, paths), Bytes('d'));
}

TEST(BlobChunkSinkTest, ABlobNamedByTwoDictionariesIsOneBlob) {
  test::TempDir dir;
  BlobRecord old_blob;
  std::vector<ChunkRecord> old_chunks;
  {
    TreeBuilder builder(kChunk);
    BlobChunkSink sink(builder, Compression::kZstd);
    ASSERT_TRUE(sink.StartBlob(dir.Path("old")).ok());
    ASSERT_TRUE(sink.Put(Bytes('a'), 0).ok());
    ASSERT_TRUE(sink.Put(Bytes('b'), 0).ok());
    old_blob = **sink.FinishBlob();
    old_chunks = *ReadBlobTable(Span(*test::ReadFile(dir.Path("old"))));
  }
  TreeBuilder builder(kChunk);
  BlobChunkSink sink(builder, Compression::kZstd);
  // Each dictionary image uses a different part of the same blob.
  sink.AddDictionary(old_blob, std::vector<ChunkRecord>{old_chunks[0]});
  sink.AddDictionary(old_blob, std::vector<ChunkRecord>{old_chunks[1]});
  const uint32_t a = *sink.Put(Bytes('a'), 0);
  const uint32_t b = *sink.Put(Bytes('b'), 0);
  ASSERT_TRUE(builder.AddRegular("f", {.mode = 0644}, 2 * kChunk, {a, b}).ok());
  Result<Metadata> m = builder.Build();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->blobs.size(), 1u);
  EXPECT_EQ(m->chunks[a].blob_index, m->chunks[b].blob_index);
}

TEST(BlobChunkSinkTest, ALayerWithoutNewChunksGetsNoBlob) {
  test::TempDir dir;
  TreeBuilder builder(kChunk);
  BlobChunkSink sink(builder, Compression::kZstd);
  ASSERT_TRUE(sink.StartBlob(dir.Path("layer0")).ok());
  const uint32_t a = *sink.Put(Bytes('a'), 0);
  ASSERT_TRUE(sink.FinishBlob()->has_value());
  ASSERT_TRUE(builder.AddRegular("a", {.mode = 0644}, kChunk, {a}).ok());

  builder.BeginLayer();
  ASSERT_TRUE(sink.StartBlob(dir.Path("layer1")).ok());
  EXPECT_EQ(*sink.Put(Bytes('a'), 0), a);
  Result<std::optional<BlobRecord>> finished = sink.FinishBlob();
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_FALSE(finished->has_value());
  EXPECT_FALSE(std::filesystem::exists(dir.Path("layer1")));
  ASSERT_TRUE(builder.AddRegular("copy-of-a", {.mode = 0644}, kChunk, {a}).ok());
  EXPECT_EQ(builder.Build()->blobs.size(), 1u);
}

}  // namespace
}  // namespace feilong::image
