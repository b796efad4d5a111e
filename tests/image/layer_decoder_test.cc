// LayerDecoder and CheckpointTable: checkpoints recorded while a gzip or
// zstd stream is read once, then every range read again from the
// checkpoint before it; damaged tables and streams refused.
#include "image/layer_decoder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/scoped_fd.h"
#include "image/checkpoint_table.h"
#include "support/temp_dir.h"

namespace feilong::image {
namespace {

constexpr uint64_t kSpacing = 256u << 10;

// Text-like data: compressible, but with back references all over the
// window, as a tar of real files has.
std::string Compressible(size_t size, uint32_t seed) {
  static const char* kWords[] = {"lazy ",  "image ",   "layer ", "chunk ",  "gzip ",
                                 "zstd\n", "feilong ", "peer ",  "window ", "block "};
  std::mt19937 random(seed);
  std::string out;
  while (out.size() < size) {
    out += kWords[random() % 10];
    if (random() % 16 == 0) {
      out += std::to_string(random());
    }
  }
  out.resize(size);
  return out;
}

std::string Gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// `data` as zstd frames of `frame` bytes each (one frame when 0).
std::string Zstd(std::string_view data, size_t frame) {
  std::string out;
  for (size_t at = 0; at < data.size(); at += frame == 0 ? data.size() : frame) {
    std::string_view piece = data.substr(at, frame == 0 ? data.size() : frame);
    std::string compressed(ZSTD_compressBound(piece.size()), '\0');
    const size_t n =
        ZSTD_compress(compressed.data(), compressed.size(), piece.data(), piece.size(), 3);
    EXPECT_FALSE(ZSTD_isError(n));
    out += compressed.substr(0, n);
  }
  return out;
}

class LayerDecoderTest : public ::testing::Test {
 protected:
  // Writes `blob`, opens it, and reads it once recording checkpoints.
  LayerCheckpoints Scan(const std::string& blob, BlobKind kind, const std::string& expected) {
    EXPECT_TRUE(test::WriteFile(dir_.Path("blob"), blob).ok());
    fd_ = ScopedFd(::open(dir_.Path("blob").c_str(), O_RDONLY | O_CLOEXEC));
    Result<std::unique_ptr<LayerDecoder>> decoder =
        LayerDecoder::Start(fd_.get(), blob.size(), kind, nullptr, "test layer");
    EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
    (*decoder)->RecordCheckpoints(kSpacing);
    std::string all(expected.size() + 10, '\0');
    Result<size_t> n =
        (*decoder)->Read(std::span(reinterpret_cast<uint8_t*>(all.data()), all.size()));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(all.substr(0, *n), expected);
    LayerCheckpoints layer;
    layer.kind = kind;
    layer.blob_size = blob.size();
    layer.stream_size = (*decoder)->position();
    layer.checkpoints = (*decoder)->TakeCheckpoints();
    layer.whole = kind == BlobKind::kLayerZstd && (*decoder)->frames() == 1;
    return layer;
  }

  // Reads [offset, offset + size) from the checkpoint before it.
  std::string ReadRange(const LayerCheckpoints& layer, uint64_t offset, size_t size) {
    Result<std::unique_ptr<LayerDecoder>> decoder = LayerDecoder::Start(
        fd_.get(), layer.blob_size, layer.kind, &layer.Before(offset), "test layer");
    EXPECT_TRUE(decoder.ok()) << decoder.status().ToString();
    EXPECT_TRUE((*decoder)->Skip(offset - (*decoder)->position()).ok());
    std::string out(size, '\0');
    Result<size_t> n = (*decoder)->Read(std::span(reinterpret_cast<uint8_t*>(out.data()), size));
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    out.resize(n.ok() ? *n : 0);
    return out;
  }

  // Every 64 KiB piece, and pieces across checkpoints, read on their own.
  void ExpectEveryRange(const LayerCheckpoints& layer, const std::string& expected) {
    constexpr size_t kPiece = 64u << 10;
    for (uint64_t at = 0; at < expected.size(); at += kPiece) {
      ASSERT_EQ(ReadRange(layer, at, kPiece), expected.substr(at, kPiece)) << "at " << at;
    }
    for (const Checkpoint& c : layer.checkpoints) {
      const uint64_t at = c.stream_offset > 1000 ? c.stream_offset - 1000 : 0;
      ASSERT_EQ(ReadRange(layer, at, 3000), expected.substr(at, 3000)) << "at " << at;
    }
  }

  test::TempDir dir_;
  ScopedFd fd_;
};

TEST_F(LayerDecoderTest, GzipIsReadFromEveryCheckpoint) {
  const std::string data = Compressible(6u << 20, 1);
  const LayerCheckpoints layer = Scan(Gzip(data), BlobKind::kLayerGzip, data);
  EXPECT_EQ(layer.stream_size, data.size());
  ASSERT_GE(layer.checkpoints.size(), 10u);
  EXPECT_EQ(layer.checkpoints[0].stream_offset, 0u);
  EXPECT_EQ(layer.checkpoints[0].blob_offset, 10u);  // after the gzip header
  for (size_t k = 1; k < layer.checkpoints.size(); ++k) {
    EXPECT_GE(layer.checkpoints[k].stream_offset - layer.checkpoints[k - 1].stream_offset,
              kSpacing);
    EXPECT_GE(layer.checkpoints[k].blob_offset - layer.checkpoints[k - 1].blob_offset,
              kMinCheckpointGap);
    EXPECT_EQ(layer.checkpoints[k].window.size(), kGzipWindowSize);
  }
  ExpectEveryRange(layer, data);
}

TEST_F(LayerDecoderTest, GzipOfSeveralMembersIsReadAcrossThem) {
  const std::string a = Compressible(1500u << 10, 2);
  const std::string b = Compressible(1200u << 10, 3);
  const LayerCheckpoints layer = Scan(Gzip(a) + Gzip(b), BlobKind::kLayerGzip, a + b);
  EXPECT_EQ(layer.stream_size, a.size() + b.size());
  ExpectEveryRange(layer, a + b);
}

TEST_F(LayerDecoderTest, ZstdFramesAreCheckpoints) {
  const std::string data = Compressible(3u << 20, 4);
  const LayerCheckpoints layer = Scan(Zstd(data, 100u << 10), BlobKind::kLayerZstd, data);
  ASSERT_GE(layer.checkpoints.size(), 10u);
  EXPECT_FALSE(layer.whole);
  for (const Checkpoint& c : layer.checkpoints) {
    EXPECT_EQ(c.stream_offset % (100u << 10), 0u);  // a frame start
    EXPECT_TRUE(c.window.empty());
  }
  ExpectEveryRange(layer, data);
}

TEST_F(LayerDecoderTest, AZstdLayerOfOneFrameIsMarkedWhole) {
  const std::string data = Compressible(1u << 20, 5);
  const LayerCheckpoints layer = Scan(Zstd(data, 0), BlobKind::kLayerZstd, data);
  ASSERT_EQ(layer.checkpoints.size(), 1u);
  EXPECT_TRUE(layer.whole);
  EXPECT_EQ(ReadRange(layer, 700000, 5000), data.substr(700000, 5000));
}

TEST_F(LayerDecoderTest, AZstdFrameNeedingMoreThanA128MiBWindowIsCorruption) {
  // Streamed without its size, the frame declares the whole 256 MiB window.
  const std::string data = Compressible(1u << 20, 8);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 28)));
  std::string frame(ZSTD_compressBound(data.size()) + 1024, '\0');
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue)));
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  frame.resize(out.pos);
  ASSERT_TRUE(test::WriteFile(dir_.Path("wide.zst"), frame).ok());
  ScopedFd fd(::open(dir_.Path("wide.zst").c_str(), O_RDONLY | O_CLOEXEC));
  auto decoder = LayerDecoder::Start(fd.get(), frame.size(), BlobKind::kLayerZstd, nullptr, "x");
  ASSERT_TRUE(decoder.ok());
  std::vector<uint8_t> all(data.size());
  Result<size_t> read = (*decoder)->Read(all);
  EXPECT_TRUE(read.status().IsCorruption()) << read.status().ToString();
}

TEST_F(LayerDecoderTest, ACompressibleLayerGetsNoMoreCheckpointsThanItsBlobAllows) {
  // 64 MiB of zeros: gzip makes 64 KiB of them, zstd frames of 64 KiB a few
  // bytes each. Every 256 KiB of stream would be 256 checkpoints and 8 MiB
  // of windows; checkpoints 32 KiB apart in the blob keep the table within
  // CheckpointTableSizeLimit of the blob.
  const std::string zeros(64u << 20, '\0');
  for (BlobKind kind : {BlobKind::kLayerGzip, BlobKind::kLayerZstd}) {
    const std::string blob = kind == BlobKind::kLayerGzip ? Gzip(zeros) : Zstd(zeros, 64u << 10);
    CheckpointTable table;
    table.layers.push_back(Scan(blob, kind, zeros));
    const std::vector<Checkpoint>& checkpoints = table.layers[0].checkpoints;
    EXPECT_LE(checkpoints.size(), blob.size() / kMinCheckpointGap + 1);
    const uint64_t size = blob.size();
    EXPECT_LE(table.Encode().size(), CheckpointTableSizeLimit(std::span(&size, 1)));
    EXPECT_TRUE(CheckpointTable::Decode(table.Encode()).ok());
    EXPECT_EQ(ReadRange(table.layers[0], 40u << 20, 5000), zeros.substr(0, 5000));
  }
  const uint64_t none = 0;
  EXPECT_EQ(CheckpointTableSizeLimit(std::span(&none, 1)), 64u + 8 + 32 + 32 + kGzipWindowSize);
  const uint64_t huge[] = {1, std::numeric_limits<uint64_t>::max()};
  EXPECT_EQ(CheckpointTableSizeLimit(huge), std::numeric_limits<uint64_t>::max());
}

TEST_F(LayerDecoderTest, ASpanOf4GiBIsFilled) {
  // zlib's counts are 32 bits: 4 GiB must not become 0. The span is
  // reserved, not backed; only the stream's bytes are touched.
  const std::string data = Compressible(1u << 20, 9);
  const std::string gzip = Gzip(data);
  ASSERT_TRUE(test::WriteFile(dir_.Path("g"), gzip).ok());
  ScopedFd fd(::open(dir_.Path("g").c_str(), O_RDONLY | O_CLOEXEC));
  const size_t size = size_t{1} << 32;
  void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  auto decoder = LayerDecoder::Start(fd.get(), gzip.size(), BlobKind::kLayerGzip, nullptr, "x");
  ASSERT_TRUE(decoder.ok());
  Result<size_t> n = (*decoder)->Read(std::span(static_cast<uint8_t*>(memory), size));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(std::memcmp(memory, data.data(), data.size()), 0);
  ::munmap(memory, size);
}

TEST_F(LayerDecoderTest, TruncatedOrDamagedStreamsAreCorruption) {
  const std::string data = Compressible(1u << 20, 6);
  const std::string gzip = Gzip(data);
  ASSERT_TRUE(test::WriteFile(dir_.Path("cut"), gzip.substr(0, gzip.size() / 2)).ok());
  ScopedFd cut(::open(dir_.Path("cut").c_str(), O_RDONLY | O_CLOEXEC));
  auto decoder =
      LayerDecoder::Start(cut.get(), gzip.size() / 2, BlobKind::kLayerGzip, nullptr, "x");
  ASSERT_TRUE(decoder.ok());
  std::vector<uint8_t> out(data.size());
  EXPECT_TRUE((*decoder)->Read(out).status().IsCorruption());

  const std::string zstd = Zstd(data, 0);
  ASSERT_TRUE(test::WriteFile(dir_.Path("cut.zst"), zstd.substr(0, zstd.size() / 2)).ok());
  ScopedFd cut_zstd(::open(dir_.Path("cut.zst").c_str(), O_RDONLY | O_CLOEXEC));
  decoder =
      LayerDecoder::Start(cut_zstd.get(), zstd.size() / 2, BlobKind::kLayerZstd, nullptr, "x");
  ASSERT_TRUE(decoder.ok());
  EXPECT_TRUE((*decoder)->Read(out).status().IsCorruption());

  // gzip checks its CRC at the end of a member.
  std::string damaged = gzip;
  damaged[damaged.size() / 2] ^= 0x55;
  ASSERT_TRUE(test::WriteFile(dir_.Path("damaged"), damaged).ok());
  ScopedFd bad(::open(dir_.Path("damaged").c_str(), O_RDONLY | O_CLOEXEC));
  decoder = LayerDecoder::Start(bad.get(), damaged.size(), BlobKind::kLayerGzip, nullptr, "x");
  ASSERT_TRUE(decoder.ok());
  std::vector<uint8_t> all(data.size() + 1);
  EXPECT_TRUE((*decoder)->Read(all).status().IsCorruption());

  // Bits beyond a byte (inflatePrime would take up to 16, and the shift
  // that picks them would be undefined), or bits before the blob's start.
  for (Checkpoint bits : {Checkpoint{0, 100, 9, {}}, Checkpoint{0, 0, 3, {}}}) {
    Result<std::unique_ptr<LayerDecoder>> refused =
        LayerDecoder::Start(bad.get(), damaged.size(), BlobKind::kLayerGzip, &bits, "x");
    EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  }

  Checkpoint beyond{0, damaged.size() + 1, 0, {}};
  EXPECT_TRUE(LayerDecoder::Start(bad.get(), damaged.size(), BlobKind::kLayerGzip, &beyond, "x")
                  .status()
                  .IsCorruption());
}

TEST_F(LayerDecoderTest, ATableEncodesAndDecodesAndRefusesDamage) {
  const std::string data = Compressible(2u << 20, 7);
  CheckpointTable table;
  table.layers.push_back(Scan(Gzip(data), BlobKind::kLayerGzip, data));
  table.layers.push_back({BlobKind::kLayerTar, 5000, 5000, false, {}});
  table.layers.push_back(Scan(Zstd(data, 0), BlobKind::kLayerZstd, data));
  const std::string encoded = table.Encode();
  Result<CheckpointTable> decoded = CheckpointTable::Decode(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->layers, table.layers);

  for (size_t at : {size_t{0}, size_t{20}, size_t{70}, encoded.size() / 2, encoded.size() - 1}) {
    std::string bad = encoded;
    bad[at] ^= 1;
    EXPECT_FALSE(CheckpointTable::Decode(bad).ok()) << "byte " << at;
  }
  EXPECT_TRUE(
      CheckpointTable::Decode(encoded.substr(0, encoded.size() - 8)).status().IsCorruption());

  // Well-formed bytes, impossible content: each is refused by its rule.
  CheckpointTable beyond = table;
  beyond.layers[0].checkpoints.back().blob_offset = beyond.layers[0].blob_size + 1;
  CheckpointTable unordered = table;
  std::swap(unordered.layers[0].checkpoints[1], unordered.layers[0].checkpoints[2]);
  CheckpointTable whole_gzip = table;
  whole_gzip.layers[0].whole = true;
  CheckpointTable tar_with_checkpoint = table;
  tar_with_checkpoint.layers[1].checkpoints.push_back({});
  CheckpointTable too_close = table;  // a stretch shorter than a window
  too_close.layers[0].checkpoints[2].stream_offset =
      too_close.layers[0].checkpoints[1].stream_offset + kGzipWindowSize - 1;
  CheckpointTable too_close_in_blob = table;
  too_close_in_blob.layers[0].checkpoints[2].blob_offset =
      too_close_in_blob.layers[0].checkpoints[1].blob_offset + kGzipWindowSize - 1;
  for (const CheckpointTable* bad :
       {&beyond, &unordered, &whole_gzip, &tar_with_checkpoint, &too_close, &too_close_in_blob}) {
    Result<CheckpointTable> refused = CheckpointTable::Decode(bad->Encode());
    EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  }
}

}  // namespace
}  // namespace feilong::image
