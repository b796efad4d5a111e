// ApplyLayer: reads one OCI image layer (a tar archive, plain, gzip or
// zstd: libarchive detects which) entry by entry and applies it to a
// TreeBuilder as the current layer, the way `flimage convert` streams a
// layer: whiteout entries become Remove and MakeOpaque, hard links share
// their target's inode, and the bytes of each regular file are cut into
// chunks of `chunk_size` that go to a ChunkSink, which stores each distinct
// chunk once and returns its index in the builder.
//
// ApplyLayerStream reads the tar stream from a LayerDecoder instead (the
// indexer decompresses layers itself, to record checkpoints on the way).
//
// Memory: one chunk at a time (plus libarchive's buffers), whatever the
// layer's size. Absolute names are taken relative to the image root (as
// container runtimes do); names with "..", or through a symlink or a file,
// are refused by the builder (InvalidArgument naming the entry), so no
// entry ever lands outside the tree. A damaged or truncated archive, or a
// file shorter than its header says, is Corruption naming the layer and
// the entry; a missing file NotFound.
//
// Thread rule: one call per builder at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "common/status.h"
#include "image/layer_decoder.h"
#include "image/tree_builder.h"

namespace feilong::image {

// Where the chunks of file data go.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // The index (TreeBuilder::AddChunk) of the chunk holding exactly `data`,
  // stored now if it was not stored before. `stream_offset` is where
  // `data` is in the layer's tar stream (decompressed), nullopt when it is
  // not there as it is (a sparse file's holes are not in the stream).
  virtual Result<uint32_t> Put(std::span<const uint8_t> data,
                               std::optional<uint64_t> stream_offset) = 0;
};

// A sink that records each distinct chunk once in a TreeBuilder, by its
// SHA-256: Put returns the index of the first chunk with the same bytes.
// Nothing is stored; subclasses say where a new chunk is (Place).
class DistinctChunkSink : public ChunkSink {
 public:
  explicit DistinctChunkSink(TreeBuilder& builder) : builder_(builder) {}
  Result<uint32_t> Put(std::span<const uint8_t> data,
                       std::optional<uint64_t> stream_offset) override;

 protected:
  // Completes the record of a new chunk (digest and sizes are set) before
  // it is added. Default: blob 0, offset 0.
  virtual void Place(ChunkRecord& chunk, std::optional<uint64_t> stream_offset);

 private:
  TreeBuilder& builder_;
  std::map<Sha256Digest, uint32_t> known_;
};

struct LayerStats {
  uint64_t entries = 0;     // tar entries read
  uint64_t files = 0;       // regular files (not hard links)
  uint64_t file_bytes = 0;  // their bytes
  uint64_t whiteouts = 0;   // .wh. entries, opaque markers included
};

// REQUIRES: chunk_size is the builder's chunk size; the caller has begun
// the layer (TreeBuilder::BeginLayer) unless it is the first.
Result<LayerStats> ApplyLayer(const std::string& path, uint32_t chunk_size, TreeBuilder& builder,
                              ChunkSink& sink);
// The same with the tar stream read from `stream` (which is left where
// the archive's end was found); `name` names the layer in errors. The
// decoder's errors come back as they are.
Result<LayerStats> ApplyLayerStream(LayerDecoder& stream, const std::string& name,
                                    uint32_t chunk_size, TreeBuilder& builder, ChunkSink& sink);

}  // namespace feilong::image
