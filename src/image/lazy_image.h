// LazyImage: a lazy image opened from an OCI layout, in either form:
//   - a converted image (docs/image-format.md, "In a registry"): its
//     manifest, its decoded metadata and the descriptor of each data blob
//     the metadata names;
//   - an index of an unmodified image (image-format.md, "Without
//     conversion"): the index artifact's manifest, its metadata (whose
//     blobs are the image's layers) and checkpoint table, and the image's
//     layers, which must be in the same layout.
// ChunkReader reads and verifies single chunks; MakeChunkReader gives the
// one for the form (LayoutChunkReader here, IndexChunkReader in
// index_reader.h).
//
// Open() accepts only what `flimage convert` or `flimage index` writes: the
// format annotation, the blobs in metadata order, every digest and size in
// agreement; for an index, the image's layers exactly as indexed (a layer
// that changed since is Corruption naming it) and every chunk inside its
// layer's stream.
//
// Thread rule: a LazyImage is a value; chunk readers are not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/scoped_fd.h"
#include "common/status.h"
#include "image/checkpoint_table.h"
#include "image/metadata.h"
#include "image/oci_layout.h"

namespace feilong::image {

// Largest metadata blob read (about 7 million files).
inline constexpr uint64_t kMaxMetadataSize = 1ull << 30;

struct LazyImage {
  Descriptor manifest_descriptor;
  ImageManifest manifest;
  Descriptor metadata_descriptor;
  Metadata metadata;
  std::vector<Descriptor> blobs;  // blobs[i] is metadata.blobs[i]
  // An index only: the indexed image's manifest (the subject), and where
  // reading can start in each of its layers.
  std::optional<Descriptor> source_manifest;
  CheckpointTable checkpoints;

  bool IsIndex() const { return metadata.IsIndex(); }

  // InvalidArgument when `manifest` is not a lazy image (naming why),
  // Corruption when its parts disagree or fail their digests, NotFound
  // when an index's image is not in `layout`.
  static Result<LazyImage> Open(const OciLayout& layout, const Descriptor& manifest);
};

// Where file bytes come from: one chunk at a time, verified.
class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  // The uncompressed bytes of chunk `index` of the image's metadata.
  virtual Result<std::vector<uint8_t>> Read(uint32_t index) = 0;
};

// Where an index reader spills large decompressed stretches by default.
inline constexpr const char* kDefaultScratchDir = "/var/tmp";

// The reader for `image`'s form. `layout` and `image` must outlive it. An
// index's reader may spill decompressed layer stretches into unlinked
// files in `scratch_dir` (index_reader.h).
std::unique_ptr<ChunkReader> MakeChunkReader(const OciLayout& layout, const LazyImage& image,
                                             const std::string& scratch_dir = kDefaultScratchDir);

// Reads chunks from the data blob files of a layout (a converted image).
class LayoutChunkReader : public ChunkReader {
 public:
  // `layout` and `image` must outlive the reader.
  LayoutChunkReader(const OciLayout& layout, const LazyImage& image);
  ~LayoutChunkReader() override;
  // NotFound for a missing blob, Corruption for bytes that fail the
  // chunk's digest.
  Result<std::vector<uint8_t>> Read(uint32_t index) override;

 private:
  const OciLayout& layout_;
  const LazyImage& image_;
  std::map<uint32_t, ScopedFd> open_;  // by blob index
};

}  // namespace feilong::image
