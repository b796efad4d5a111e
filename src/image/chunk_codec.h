// Chunk codec: how one chunk of file data is stored in a data blob and read
// back (docs/image-format.md, "Data blobs").
//
// A chunk is compressed on its own (zstd level 3 or lz4 block format), so
// any chunk can be fetched and decoded alone; when compression does not make
// it smaller it is stored as it is (Compression::kNone), as incompressible
// data (media, already compressed files) usually is.
//
// Thread rule: free functions without shared state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "image/metadata.h"

namespace feilong::image {

struct StoredChunk {
  Compression compression = Compression::kNone;
  std::vector<uint8_t> bytes;
};

// `data` as it goes into a blob: with `preferred` when that is smaller.
// InvalidArgument for empty data; Internal if the compressor fails.
Result<StoredChunk> StoreChunk(std::span<const uint8_t> data, Compression preferred);

// The uncompressed bytes of `chunk` from its `stored` bytes. Corruption
// unless they decode to exactly chunk.uncompressed_size bytes whose SHA-256
// is chunk.digest.
Result<std::vector<uint8_t>> LoadChunk(const ChunkRecord& chunk, std::span<const uint8_t> stored);

// Corruption unless `data` is `chunk`'s uncompressed bytes: their size and
// SHA-256 (what LoadChunk checks last, for bytes already uncompressed).
Status VerifyChunk(const ChunkRecord& chunk, std::span<const uint8_t> data);

// The metadata blob as it is stored in a registry: the encoded metadata
// (Metadata::Encode) in one zstd frame that records its size, so a reader
// knows the size before it decompresses. Internal if zstd fails.
Result<std::string> CompressMetadata(std::string_view encoded);
// The encoded metadata from a stored blob. Corruption for anything but one
// complete zstd frame of a declared size; InvalidArgument when that size is
// above `max_size`.
Result<std::string> DecompressMetadata(std::string_view stored, uint64_t max_size);

}  // namespace feilong::image
