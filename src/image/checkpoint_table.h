// CheckpointTable: where reading can start inside each layer of an
// unmodified image, the second blob of an image index
// (docs/image-format.md, "Without conversion: an index of an unmodified
// image").
//
// A compressed layer cannot be read from the middle: decompression has to
// start somewhere it can. For each layer the table lists such places, in
// order, by their offset in the layer's tar stream (decompressed) and in
// the layer blob:
//   - gzip: the end of a deflate block, the bits of the last byte already
//     used, and the last 32 KiB of output (the window the next block may
//     refer to), as zlib's inflatePrime and inflateSetDictionary take them;
//   - zstd: the start of a frame (frames do not refer to each other);
//   - an uncompressed layer needs none.
// A zstd layer of one frame has only its start: reading it means reading
// it whole, which the table marks (`whole`) so that readers say so.
//
// Encode() and Decode() follow the spec byte for byte; Decode() accepts
// only what Encode() writes: every offset inside its layer, checkpoints in
// increasing order at least kMinCheckpointGap apart (stream and blob), windows tiling the window
// pool, the SHA-256 in the header. Errors are Corruption naming what is wrong (InvalidArgument for
// a newer major version).
//
// Thread rule: a CheckpointTable is a value.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "image/metadata.h"

namespace feilong::image {

// The gzip window: how far back a deflate block may refer.
inline constexpr uint32_t kGzipWindowSize = 32u << 10;
// Default spacing of checkpoints, in bytes of the tar stream.
inline constexpr uint64_t kDefaultCheckpointSpacing = 4u << 20;
// The least distance between two checkpoints of a layer, in its stream
// and in its blob: Decode() refuses closer ones, and the indexer takes no
// smaller spacing.
inline constexpr uint64_t kMinCheckpointGap = kGzipWindowSize;

struct Checkpoint {
  uint64_t stream_offset = 0;  // in the layer's tar stream
  uint64_t blob_offset = 0;    // of the first byte not yet fully used, in the blob
  uint8_t bits = 0;            // gzip: bits of the byte before blob_offset still to decode (0-7)
  std::string window;          // gzip: up to 32 KiB of the stream before stream_offset
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

struct LayerCheckpoints {
  BlobKind kind = BlobKind::kLayerTar;  // never kData
  uint64_t blob_size = 0;
  uint64_t stream_size = 0;  // of the tar stream (blob_size for kLayerTar)
  // A zstd layer of one frame: no checkpoint but its start.
  bool whole = false;
  // None for kLayerTar; otherwise the first is at stream offset 0.
  std::vector<Checkpoint> checkpoints;
  friend bool operator==(const LayerCheckpoints&, const LayerCheckpoints&) = default;

  // The last checkpoint at or before `stream_offset`. REQUIRES: a
  // compressed layer (checkpoints not empty).
  const Checkpoint& Before(uint64_t stream_offset) const;
};

struct CheckpointTable {
  std::vector<LayerCheckpoints> layers;  // in the order of the image's layers

  std::string Encode() const;
  static Result<CheckpointTable> Decode(std::span<const uint8_t> bytes);
  static Result<CheckpointTable> Decode(std::string_view bytes);
};

// The largest encoded table of layers of these blob sizes: checkpoints are
// kMinCheckpointGap apart in the blob, so a layer of b bytes has at most
// b / kMinCheckpointGap + 1, each a 32-byte record and a window of at most
// kGzipWindowSize; plus the header, a record per layer and padding.
// Saturates at UINT64_MAX.
uint64_t CheckpointTableSizeLimit(std::span<const uint64_t> blob_sizes);

}  // namespace feilong::image
