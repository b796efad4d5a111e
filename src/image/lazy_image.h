// LazyImage: a converted image (docs/image-format.md, "In a registry")
// opened from an OCI layout: its manifest, its decoded metadata and the
// descriptor of each data blob the metadata names, plus ChunkReader, which
// reads and verifies single chunks from the blobs.
//
// Open() accepts only what `flimage convert` writes: an image manifest with
// the format annotation, the data blobs in metadata order, then the
// metadata blob; every digest and size must agree.
//
// Thread rule: a LazyImage is a value; a LayoutChunkReader is not
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/scoped_fd.h"
#include "common/status.h"
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

  // InvalidArgument when `manifest` is not a lazy image (naming why),
  // Corruption when its parts disagree or fail their digests.
  static Result<LazyImage> Open(const OciLayout& layout, const Descriptor& manifest);
};

// Where file bytes come from: one chunk at a time, verified.
class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  // The uncompressed bytes of chunk `index` of the image's metadata.
  virtual Result<std::vector<uint8_t>> Read(uint32_t index) = 0;
};

// Reads chunks from the blob files of a layout.
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
