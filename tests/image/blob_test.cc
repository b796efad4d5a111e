#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "image/blob_writer.h"
#include "image/chunk_codec.h"
#include "support/temp_dir.h"

namespace feilong::image {
namespace {

std::vector<uint8_t> Text(size_t n) {
  std::vector<uint8_t> v(n);
  const std::string line = "the quick brown fox jumps over the lazy dog 0123456789\n";
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<uint8_t>(line[i % line.size()]);
  }
  return v;
}

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) {
    b = static_cast<uint8_t>(gen());
  }
  return v;
}

ChunkRecord RecordFor(const std::vector<uint8_t>& data, const StoredChunk& stored) {
  return {.digest = Sha256(data),
          .compressed_offset = 0,
          .compressed_size = static_cast<uint32_t>(stored.bytes.size()),
          .uncompressed_size = static_cast<uint32_t>(data.size()),
          .compression = stored.compression};
}

std::span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(ChunkCodecTest, CompressibleDataIsStoredCompressedAndComesBack) {
  const std::vector<uint8_t> data = Text(64 << 10);
  for (Compression c : {Compression::kZstd, Compression::kLz4}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    Result<StoredChunk> stored = StoreChunk(data, c);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_EQ(stored->compression, c);
    EXPECT_LT(stored->bytes.size(), data.size() / 4);
    Result<std::vector<uint8_t>> back = LoadChunk(RecordFor(data, *stored), stored->bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, data);
  }
}

TEST(ChunkCodecTest, DataThatDoesNotShrinkIsStoredAsItIs) {
  const std::vector<uint8_t> data = Random(64 << 10, 1);
  for (Compression c : {Compression::kZstd, Compression::kLz4, Compression::kNone}) {
    Result<StoredChunk> stored = StoreChunk(data, c);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->compression, Compression::kNone);
    EXPECT_EQ(stored->bytes, data);
    EXPECT_EQ(*LoadChunk(RecordFor(data, *stored), stored->bytes), data);
  }
  EXPECT_TRUE(StoreChunk({}, Compression::kZstd).status().IsInvalidArgument());
}

TEST(ChunkCodecTest, DamagedOrMismatchedChunksAreCorruption) {
  const std::vector<uint8_t> data = Text(32 << 10);
  for (Compression c : {Compression::kZstd, Compression::kLz4}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    StoredChunk stored = *StoreChunk(data, c);
    const ChunkRecord good = RecordFor(data, stored);

    std::vector<uint8_t> flipped = stored.bytes;
    flipped[flipped.size() / 2] ^= 0x40;
    EXPECT_TRUE(LoadChunk(good, flipped).status().IsCorruption());

    std::vector<uint8_t> cut(stored.bytes.begin(), stored.bytes.end() - 3);
    ChunkRecord cut_record = good;
    cut_record.compressed_size = static_cast<uint32_t>(cut.size());
    EXPECT_TRUE(LoadChunk(cut_record, cut).status().IsCorruption());
    EXPECT_TRUE(LoadChunk(good, cut).status().IsCorruption());  // size disagrees

    ChunkRecord other_digest = good;
    other_digest.digest[0] ^= 1;
    EXPECT_TRUE(LoadChunk(other_digest, stored.bytes).status().IsCorruption());

    ChunkRecord longer = good;
    longer.uncompressed_size += 1;
    EXPECT_TRUE(LoadChunk(longer, stored.bytes).status().IsCorruption());
    ChunkRecord shorter = good;
    shorter.uncompressed_size -= 1;
    EXPECT_TRUE(LoadChunk(shorter, stored.bytes).status().IsCorruption());
  }
}

TEST(BlobWriterTest, WritesChunksThenATableItsFooterDescribes) {
  test::TempDir dir;
  const std::string path = dir.Path("blob");
  Result<std::unique_ptr<BlobWriter>> writer = BlobWriter::Create(path, Compression::kZstd);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const std::vector<std::vector<uint8_t>> inputs = {Text(64 << 10), Random(40000, 2), Text(10)};
  std::vector<ChunkRecord> records;
  for (const auto& input : inputs) {
    Result<ChunkRecord> record = (*writer)->Add(input);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    records.push_back(*record);
  }
  Result<BlobRecord> blob = (*writer)->Finish();
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_TRUE((*writer)->Add(inputs[0]).status().code() == StatusCode::kFailedPrecondition);

  Result<std::string> bytes = test::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(blob->size, bytes->size());
  EXPECT_EQ(blob->digest, Sha256(*bytes));
  EXPECT_EQ(blob->chunk_count, 3u);
  EXPECT_EQ(records[0].compression, Compression::kZstd);
  EXPECT_EQ(records[1].compression, Compression::kNone);

  Result<std::vector<ChunkRecord>> table = ReadBlobTable(Span(*bytes));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(*table, records);
  for (size_t i = 0; i < records.size(); ++i) {
    auto stored = Span(*bytes).subspan(records[i].compressed_offset, records[i].compressed_size);
    Result<std::vector<uint8_t>> back = LoadChunk(records[i], stored);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, inputs[i]);
  }
  EXPECT_TRUE(BlobWriter::Create(path, Compression::kZstd).status().code() ==
              StatusCode::kAlreadyExists);
}

TEST(BlobWriterTest, ADamagedOrTruncatedBlobTableIsRefused) {
  test::TempDir dir;
  std::unique_ptr<BlobWriter> writer =
      BlobWriter::Create(dir.Path("blob"), Compression::kLz4).value();
  ASSERT_TRUE(writer->Add(Text(5000)).ok());
  ASSERT_TRUE(writer->Add(Text(7000)).ok());
  ASSERT_TRUE(writer->Finish().ok());
  const std::string bytes = *test::ReadFile(dir.Path("blob"));
  ASSERT_TRUE(ReadBlobTable(Span(bytes)).ok());

  EXPECT_TRUE(ReadBlobTable(Span(bytes.substr(0, 40))).status().IsCorruption());
  EXPECT_TRUE(ReadBlobTable(Span(bytes.substr(0, bytes.size() - 1))).status().IsCorruption());
  EXPECT_TRUE(ReadBlobTable(Span(bytes.substr(1))).status().IsCorruption());
  for (size_t at : {bytes.size() - 64 - 56 + 33, bytes.size() - 64 + 17, bytes.size() - 64 + 40}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    EXPECT_FALSE(ReadBlobTable(Span(damaged)).ok()) << at;
  }
}

TEST(MetadataCompressionTest, RoundTripsAndRefusesWhatIsNotOneFrameOfADeclaredSize) {
  const std::string encoded = std::string(100000, 'm') + "tail";
  Result<std::string> stored = CompressMetadata(encoded);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_LT(stored->size(), encoded.size() / 10);
  EXPECT_EQ(*DecompressMetadata(*stored, 1 << 20), encoded);

  EXPECT_TRUE(DecompressMetadata(*stored, encoded.size() - 1).status().IsInvalidArgument());
  EXPECT_TRUE(DecompressMetadata(encoded, 1 << 20).status().IsCorruption());  // not zstd
  EXPECT_TRUE(DecompressMetadata(stored->substr(0, stored->size() - 3), 1 << 20)
                  .status()
                  .IsCorruption());  // truncated
  EXPECT_TRUE(DecompressMetadata(*stored + "x", 1 << 20).status().IsCorruption());
  std::string damaged = *stored;
  damaged[damaged.size() / 2] ^= 0x40;
  EXPECT_FALSE(DecompressMetadata(damaged, 1 << 20).ok());
}

}  // namespace
}  // namespace feilong::image
