// IndexChunkReader: the chunks of an index of an unmodified image
// (docs/image-format.md, "Without conversion"), read from the image's
// layer blobs in an OCI layout and verified against their SHA-256.
//
// A chunk is a range of its layer's tar stream:
//   - uncompressed layer: read where it is;
//   - gzip or zstd layer: decompressed from the checkpoint before it. The
//     reader keeps one decoder per layer where the last read ended, so reads
//     in stream order decompress each byte once; a read behind it, or past
//     a later checkpoint, starts again from the checkpoint before it;
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
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "common/scoped_fd.h"
#include "image/layer_decoder.h"
#include "image/lazy_image.h"

namespace feilong::image {

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
  Result<Layer*> OpenLayer(uint32_t blob_index);
  // Fills `out` from offset `offset` of the layer's stream.
  Status ReadStream(uint32_t blob_index, Layer& layer, uint64_t offset, std::span<uint8_t> out);
  Status DecompressWhole(uint32_t blob_index, Layer& layer);

  const OciLayout& layout_;
  const LazyImage& image_;
  std::map<uint32_t, Layer> layers_;  // by blob index, once used
};

}  // namespace feilong::image
