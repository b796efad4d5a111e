// IndexImage: `flimage index` — a lazy-start index of an image left as it
// is (docs/image-format.md, "Without conversion: an index of an
// unmodified image"). The image's manifest, config and layers are not
// touched, so its digest and signatures stay valid.
//
// Each layer is decompressed once, by this code (LayerDecoder), and its
// tar stream parsed as `convert` parses it (ApplyLayerStream): the merged
// tree is the same, but a chunk is recorded where its bytes already are,
// at its offset in the layer's tar stream, with the SHA-256 of those
// bytes; identical chunks are one record. On the way, every
// `checkpoint_spacing` bytes of stream a gzip layer gets a checkpoint
// (deflate block boundary, bits and window) and a zstd layer one at the
// next frame start; a zstd layer of one frame has none but its start and
// is marked to be read whole.
//
// The result is an OCI artifact manifest in `destination`:
//   artifactType  kFeilongIndexArtifactType
//   config        the empty descriptor (kOciEmptyType, "{}")
//   layers        the metadata blob (kFeilongMetadataType, format 1.1: its
//                 blobs are the image's layers), then the checkpoint table
//                 (kFeilongCheckpointsType), each one zstd frame
//   subject       the image's manifest
//   annotations   kFeilongFormatAnnotation = "1.1".
// The same image and options give the same bytes.
//
// Memory: the tree, the checkpoints' windows (32 KiB per checkpoint) and
// one chunk at a time. Every layer is checked against its digest first.
// Files stored sparse in a layer (GNU/PAX sparse entries) have no place in
// the stream to point at: InvalidArgument (convert such an image).
//
// Thread rule: one call at a time per destination layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/checkpoint_table.h"
#include "image/metadata.h"
#include "image/oci_layout.h"

namespace feilong::image {

struct IndexOptions {
  // A power of two in [kMinChunkSize, kMaxChunkSize].
  uint32_t chunk_size = kDefaultChunkSize;
  // Bytes of tar stream between checkpoints of a compressed layer (at
  // least; a checkpoint waits for the next block or frame boundary). At
  // least kMinCheckpointGap: a reader refuses checkpoints closer.
  uint64_t checkpoint_spacing = kDefaultCheckpointSpacing;
  std::vector<std::string> prefetch;  // as ConvertOptions::prefetch
};

struct IndexReport {
  Descriptor manifest;  // of the index artifact
  uint64_t source_layer_bytes = 0;
  uint64_t stream_bytes = 0;  // the layers' tar streams, decompressed
  uint64_t entries = 0;
  uint64_t file_bytes = 0;
  uint64_t chunks = 0;  // distinct
  uint64_t checkpoints = 0;
  std::vector<size_t> whole_layers;  // zstd layers of one frame
  uint64_t metadata_bytes = 0;
  uint64_t checkpoint_bytes = 0;
  std::vector<std::string> prefetch_missing;
};

// InvalidArgument naming the first option out of its range.
Status CheckIndexOptions(const IndexOptions& options);

// Indexes the image `manifest` of `source`, writing the artifact's blobs
// and manifest to `destination` (untagged; the image itself is not
// copied). InvalidArgument for options CheckIndexOptions refuses, a lazy
// image or an image of other layers than tar, Corruption for damaged layers, naming the layer.
Result<IndexReport> IndexImage(const OciLayout& source, const Descriptor& manifest,
                               OciLayout& destination, const IndexOptions& options);

}  // namespace feilong::image
