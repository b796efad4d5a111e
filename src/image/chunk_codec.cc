#include "image/chunk_codec.h"

#include <lz4.h>
#include <zstd.h>

#include <limits>
#include <string>

namespace feilong::image {

namespace {
constexpr int kZstdLevel = 3;
}  // namespace

Result<StoredChunk> StoreChunk(std::span<const uint8_t> data, Compression preferred) {
  if (data.empty()) {
    return Status::InvalidArgument("an empty chunk");
  }
  StoredChunk stored;
  if (preferred == Compression::kZstd) {
    stored.bytes.resize(ZSTD_compressBound(data.size()));
    size_t n = ZSTD_compress(stored.bytes.data(), stored.bytes.size(), data.data(), data.size(),
                             kZstdLevel);
    if (ZSTD_isError(n) != 0) {
      return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    stored.bytes.resize(n);
  } else if (preferred == Compression::kLz4) {
    if (data.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
      return Status::InvalidArgument("a chunk over lz4's input limit");
    }
    const int size = static_cast<int>(data.size());
    stored.bytes.resize(static_cast<size_t>(LZ4_compressBound(size)));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(data.data()),
                                 reinterpret_cast<char*>(stored.bytes.data()), size,
                                 static_cast<int>(stored.bytes.size()));
    if (n <= 0) {
      return Status::Internal("lz4: compression failed");
    }
    stored.bytes.resize(static_cast<size_t>(n));
  }
  if (preferred == Compression::kNone || stored.bytes.size() >= data.size()) {
    stored.compression = Compression::kNone;
    stored.bytes.assign(data.begin(), data.end());
    return stored;
  }
  stored.compression = preferred;
  return stored;
}

Result<std::vector<uint8_t>> LoadChunk(const ChunkRecord& chunk, std::span<const uint8_t> stored) {
  const std::string what = "chunk " + Sha256String(chunk.digest);
  if (stored.size() != chunk.compressed_size) {
    return Status::Corruption(what + ": " + std::to_string(stored.size()) + " stored bytes, " +
                              std::to_string(chunk.compressed_size) + " expected");
  }
  std::vector<uint8_t> data(chunk.uncompressed_size);
  switch (chunk.compression) {
    case Compression::kNone:
      if (stored.size() != data.size()) {
        return Status::Corruption(what + ": stored uncompressed at another size");
      }
      data.assign(stored.begin(), stored.end());
      break;
    case Compression::kZstd: {
      size_t n = ZSTD_decompress(data.data(), data.size(), stored.data(), stored.size());
      if (ZSTD_isError(n) != 0 || n != data.size()) {
        return Status::Corruption(
            what + ": zstd data does not decode to " + std::to_string(data.size()) + " bytes" +
            (ZSTD_isError(n) != 0 ? std::string(" (") + ZSTD_getErrorName(n) + ")"
                                  : std::string()));
      }
      break;
    }
    case Compression::kLz4: {
      if (stored.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
          data.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
        return Status::Corruption(what + ": too large for lz4");
      }
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(stored.data()),
                                  reinterpret_cast<char*>(data.data()),
                                  static_cast<int>(stored.size()), static_cast<int>(data.size()));
      if (n < 0 || static_cast<size_t>(n) != data.size()) {
        return Status::Corruption(what + ": lz4 data does not decode to " +
                                  std::to_string(data.size()) + " bytes");
      }
      break;
    }
  }
  FL_RETURN_IF_ERROR(VerifyChunk(chunk, data));
  return data;
}

Status VerifyChunk(const ChunkRecord& chunk, std::span<const uint8_t> data) {
  if (data.size() != chunk.uncompressed_size || Sha256(data) != chunk.digest) {
    return Status::Corruption("chunk " + Sha256String(chunk.digest) +
                              ": decoded bytes have another size or digest");
  }
  return Status::Ok();
}

Result<std::string> CompressMetadata(std::string_view encoded) {
  // Metadata is fetched once per image, before anything else: worth a
  // higher level than chunks get.
  constexpr int kMetadataLevel = 9;
  std::string stored(ZSTD_compressBound(encoded.size()), '\0');
  const size_t n =
      ZSTD_compress(stored.data(), stored.size(), encoded.data(), encoded.size(), kMetadataLevel);
  if (ZSTD_isError(n) != 0) {
    return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  stored.resize(n);
  return stored;
}

Result<std::string> DecompressMetadata(std::string_view stored, uint64_t max_size) {
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("metadata blob is not a zstd frame of known size");
  }
  if (size > max_size) {
    return Status::InvalidArgument("metadata blob declares " + std::to_string(size) +
                                   " bytes, more than the " + std::to_string(max_size) +
                                   " allowed");
  }
  if (ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
    return Status::Corruption("metadata blob is not exactly one zstd frame");
  }
  std::string encoded(static_cast<size_t>(size), '\0');
  const size_t n = ZSTD_decompress(encoded.data(), encoded.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) != 0 || n != encoded.size()) {
    return Status::Corruption("metadata blob does not decompress to its declared size");
  }
  return encoded;
}

}  // namespace feilong::image
