// LayerDecoder: the tar stream of an image layer blob (plain, gzip or
// zstd), decompressed forward from the blob's start or from a checkpoint
// (checkpoint_table.h). The indexer reads each layer once from its start
// and asks for checkpoints on the way; an index reader starts at the
// checkpoint before the bytes it wants.
//
// gzip is read with zlib: from the start as gzip (members one after
// another), from a checkpoint as raw deflate primed with the checkpoint's
// bits and window, switching back to gzip at the next member. zstd is read
// with the streaming decoder, frame after frame, with a window of at most
// 128 MiB (a frame that needs more is Corruption).
//
// Damaged or truncated data is Corruption naming the layer; an unreadable
// blob IOError.
//
// Thread rule: not thread-safe; the blob's file descriptor is borrowed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/checkpoint_table.h"

namespace feilong::image {

// The compression of a layer blob from its first bytes (gzip and zstd
// magic numbers; anything else is read as a plain tar).
BlobKind SniffLayerKind(std::span<const uint8_t> head);

class LayerDecoder {
 public:
  virtual ~LayerDecoder() = default;

  // Decodes the blob open at `fd` (borrowed; `blob_size` bytes; named
  // `name` in errors) from its start (`at` null) or from checkpoint `at`,
  // which must come from a table of this blob.
  static Result<std::unique_ptr<LayerDecoder>> Start(int fd, uint64_t blob_size, BlobKind kind,
                                                     const Checkpoint* at, std::string name);

  // Records a checkpoint wherever one can be made at least `spacing`
  // bytes of stream and kMinCheckpointGap bytes of blob after the one
  // before (the first as early as possible).
  // REQUIRES: called before the first Read, on a decoder from the start.
  virtual void RecordCheckpoints(uint64_t spacing) = 0;
  // The checkpoints recorded so far.
  virtual std::vector<Checkpoint> TakeCheckpoints() = 0;

  // Up to out.size() bytes of the stream, fewer only at its end (0 there).
  virtual Result<size_t> Read(std::span<uint8_t> out) = 0;
  // Skips `n` bytes; Corruption if the stream ends first.
  Status Skip(uint64_t n);
  // The offset in the tar stream of the next byte Read returns.
  virtual uint64_t position() const = 0;
  // zstd frames or gzip members ended so far (0 for an uncompressed
  // layer): a zstd layer is one frame (to be read whole) only if this is 1
  // at its end, whatever its checkpoints.
  virtual uint64_t frames() const = 0;
};

}  // namespace feilong::image
