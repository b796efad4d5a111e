// IndexChunkReader: the chunks of an index of an unmodified image
// (docs/image-format.md, "Without conversion"), read from the image's
// layer blobs in an OCI layout and verified against their SHA-256.
//
// A chunk is a range of its layer's tar stream:
//   - uncompressed layer: read where it is;
//   - gzip or zstd layer: decompressed from the checkpoint before it. The
//     stretch from that checkpoint to the next (4 MiB by default) is
//     decompressed whole and kept, the most recently used first, up to
//     kSegmentCacheBytes in all, so that reads near each other (a
//     directory's files, which tar keeps together but not in name order)
//     decompress each stretch once. A chunk across a checkpoint, or in a
//     stretch above kMaxSegmentBytes, is read by one decoder per layer kept
//     where the last such read ended;
//   - zstd layer marked whole (one frame): decompressed whole on its first
//     use into an unlinked temporary file ($TMPDIR, else /var/tmp), read
//     from there after.
//
// Errors: NotFound for a missing layer blob, Corruption for a layer that
// does not decompress or bytes that fail the chunk's digest, IOError for
// the temporary file. A failed read leaves the reader usable.
//
// Thread rule: not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "common/scoped_fd.h"
#include "image/layer_decoder.h"
#include "image/lazy_image.h"

namespace feilong::image {

// Decompressed stretches kept, in bytes; and the largest stretch kept.
inline constexpr uint64_t kSegmentCacheBytes = 64u << 20;
inline constexpr uint64_t kMaxSegmentBytes = 16u << 20;
// What each kept stretch is charged besides its bytes (its list and map
// nodes and vector, rounded up), so that many small stretches cannot hold
// more memory than the budget says.
inline constexpr uint64_t kSegmentOverheadBytes = 1u << 10;

class IndexChunkReader : public ChunkReader {
 public:
  // `layout` and `image` (an index: image.IsIndex()) must outlive the
  // reader.
  IndexChunkReader(const OciLayout& layout, const LazyImage& image);
  ~IndexChunkReader() override;
  Result<std::vector<uint8_t>> Read(uint32_t index) override;

 private:
  struct Layer {
    ScopedFd blob;
    std::unique_ptr<LayerDecoder> cursor;  // where the last read ended
    ScopedFd whole;                        // a whole layer's stream, once read
  };
  // (blob index, checkpoint index): where a stretch starts.
  using SegmentKey = std::pair<uint32_t, size_t>;
  // The stream from checkpoint `key.second` of a layer to the next.
  struct Segment {
    SegmentKey key;
    std::vector<uint8_t> bytes;
  };
  Result<Layer*> OpenLayer(uint32_t blob_index);
  // Fills `out` from offset `offset` of the layer's stream.
  Status ReadStream(uint32_t blob_index, Layer& layer, uint64_t offset, std::span<uint8_t> out);
  Status ReadWithCursor(uint32_t blob_index, Layer& layer, uint64_t offset, std::span<uint8_t> out);
  // The segment from checkpoint `k`, decompressed now unless kept.
  Result<const Segment*> GetSegment(uint32_t blob_index, Layer& layer, size_t k, uint64_t size);
  Status DecompressWhole(uint32_t blob_index, Layer& layer);

  const OciLayout& layout_;
  const LazyImage& image_;
  std::map<uint32_t, Layer> layers_;                               // by blob index, once used
  std::list<Segment> segments_;                                    // most recently used first
  std::map<SegmentKey, std::list<Segment>::iterator> segment_at_;  // into segments_
  uint64_t segment_bytes_ = 0;  // bytes and overheads of segments_
};

}  // namespace feilong::image
