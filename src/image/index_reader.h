// IndexChunkReader: the chunks of an index of an unmodified image
// (docs/image-format.md, "Without conversion"), read from the image's
// layer blobs in an OCI layout and verified against their SHA-256.
//
// A chunk is a range of its layer's tar stream. An uncompressed layer is
// read where it is. A gzip or zstd layer is read by stretches, a stretch
// being the stream from one checkpoint to the next (4 MiB by default), or
// to the end of the layer's last chunk, whichever comes first (nothing
// past what a chunk needs is ever decompressed, whatever the table says
// the stream's size is). A read across checkpoints is read stretch by
// stretch.
//   - A stretch up to kMaxSegmentBytes is decompressed whole and kept, the
//     most recently used first, up to kSegmentCacheBytes in all, so that
//     reads near each other (a directory's files, which tar keeps together
//     but not in name order) decompress each stretch once.
//   - A larger one (a zstd layer of one frame, a gzip layer of huge deflate
//     blocks) is spilled: decompressed into an unlinked temporary file in
//     the scratch directory, only as far as reads have needed so far, and
//     read from there after; one such file per layer (the one it read
//     last). A spill grows with a decoder kept where it stopped; at most
//     kMaxCursors decoders live across all layers (a zstd decoder holds up
//     to a 128 MiB window). A spill whose decoder was taken by another
//     layer is decompressed to its stretch's end the next time it must
//     grow, so each stretch is decompressed at most twice, whatever the
//     order of reads.
//
// Disk: up to one stretch per compressed layer in the scratch directory.
// Memory: kSegmentCacheBytes, plus kMaxCursors decoders.
//
// Errors: NotFound for a missing layer blob, Corruption for a layer that
// does not decompress or bytes that fail the chunk's digest, IOError for
// the temporary files. A failed read leaves the reader usable.
//
// Thread rule: not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <span>
#include <string>
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
// Decoders kept where they stopped, across all layers.
inline constexpr size_t kMaxCursors = 2;

class IndexChunkReader : public ChunkReader {
 public:
  // `layout` and `image` (an index: image.IsIndex()) must outlive the
  // reader. Spilled stretches go into `scratch_dir` (unlinked files).
  IndexChunkReader(const OciLayout& layout, const LazyImage& image, std::string scratch_dir);
  ~IndexChunkReader() override;
  Result<std::vector<uint8_t>> Read(uint32_t index) override;

 private:
  // (blob index, checkpoint index): where a stretch starts.
  using StretchKey = std::pair<uint32_t, size_t>;
  // A stretch decompressed whole, in memory.
  struct Segment {
    StretchKey key;
    std::vector<uint8_t> bytes;
  };
  // A large stretch decompressed into a file from its start up to `end`.
  struct Spill {
    size_t checkpoint = 0;
    ScopedFd file;
    uint64_t begin = 0;  // stream offsets
    uint64_t end = 0;
  };
  // A decoder of a layer, where the last read left it.
  struct Cursor {
    uint32_t blob_index = 0;
    std::unique_ptr<LayerDecoder> decoder;
  };

  Result<int> OpenBlob(uint32_t blob_index);
  // Fills `out` from offset `offset` of the layer's stream.
  Status ReadStream(uint32_t blob_index, uint64_t offset, std::span<uint8_t> out);
  // Fills `out` from `offset` of stretch `k`, which holds all of it.
  Status ReadStretch(uint32_t blob_index, size_t k, uint64_t begin, uint64_t end, uint64_t offset,
                     std::span<uint8_t> out);
  // The stretch from checkpoint `k`, decompressed now unless kept.
  Result<const Segment*> GetSegment(uint32_t blob_index, size_t k, uint64_t begin, uint64_t end);
  // Fills `out` from the layer's spill of stretch `k`, growing it first.
  Status ReadSpill(uint32_t blob_index, size_t k, uint64_t begin, uint64_t end, uint64_t offset,
                   std::span<uint8_t> out);
  // Grows `spill` to stream offset `to` at least (to `stretch_end` when
  // its decoder is gone: see the file comment).
  Status GrowSpill(uint32_t blob_index, Spill& spill, uint64_t to, uint64_t stretch_end);
  // A kept decoder of the layer in stretch `k` at or before `position`
  // (made the most recently used), or null.
  LayerDecoder* KeptCursor(uint32_t blob_index, size_t k, uint64_t position);
  // A new decoder at checkpoint `k`, kept; the least recently used goes
  // when there are more than kMaxCursors.
  Result<LayerDecoder*> NewCursor(uint32_t blob_index, size_t k);
  void DropCursors(uint32_t blob_index);

  const OciLayout& layout_;
  const LazyImage& image_;
  const std::string scratch_dir_;
  std::vector<uint64_t> needed_end_;    // by blob index: where its last chunk ends
  std::map<uint32_t, ScopedFd> blobs_;  // by blob index, once used
  std::list<Segment> segments_;         // most recently used first
  std::map<StretchKey, std::list<Segment>::iterator> segment_at_;  // into segments_
  uint64_t segment_bytes_ = 0;        // bytes and overheads of segments_
  std::map<uint32_t, Spill> spills_;  // by blob index
  std::list<Cursor> cursors_;         // most recently used first
};

}  // namespace feilong::image
