// ConvertImage: `flimage convert` — an OCI image (layers of tar) into a lazy
// image (docs/image-format.md) in an OCI layout.
//
// The layers are read bottom up, each streamed once through ApplyLayer into
// one TreeBuilder: whiteouts and opaque directories applied, files cut into
// chunks, each distinct chunk compressed once per image (and not at all when
// a chunk dictionary has it). Each layer that brings new chunks becomes one
// data blob; the merged tree becomes the metadata blob. The result is an
// OCI image manifest:
//   config  the source's config, with rootfs.diff_ids naming the new layers
//           and no history (its entries described the old layers);
//   layers  the data blobs (kFeilongBlobType) in metadata order, dictionary
//           blobs it uses included (copied in), then the metadata blob
//           (kFeilongMetadataType);
//   subject the source manifest, so the registry's referrers API links
//           them; annotation kFeilongFormatAnnotation = "1.0".
// The same source and options give the same bytes, hence the same digests.
//
// Memory: the tree (about 150 bytes per file) and one chunk at a time,
// whatever the size of the layers. Every source blob is checked against its
// digest before it is used. On failure nothing is tagged; finished blobs
// may stay in the destination (content-addressed, harmless).
//
// Thread rule: one call at a time per destination layout.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/metadata.h"
#include "image/oci_layout.h"

namespace feilong::image {

// A converted image whose chunks a conversion may reuse (not an index of
// an unmodified image: InvalidArgument).
struct ChunkDictionary {
  const OciLayout* layout = nullptr;
  Descriptor manifest;
};

struct ConvertOptions {
  uint32_t chunk_size = kDefaultChunkSize;
  Compression compression = Compression::kZstd;
  // What to read first at run time, in order: paths (e.g. an access trace)
  // and glob patterns (fnmatch; '*' also crosses '/'), which select regular
  // files in tree order. Entries that name nothing are skipped and reported.
  std::vector<std::string> prefetch;
  std::vector<ChunkDictionary> dictionaries;
};

struct ConvertProgress {
  size_t layer = 0;  // 0-based, of `layers`
  size_t layers = 0;
  uint64_t layer_size = 0;  // compressed, as in the source manifest
  uint64_t file_bytes = 0;  // of this layer, chunked so far
  bool layer_done = false;
};

struct ConvertReport {
  Descriptor manifest;  // the new image's, with its platform
  uint64_t source_layer_bytes = 0;
  uint64_t entries = 0;
  uint64_t file_bytes = 0;  // regular files, as in the layers (before merging)
  uint64_t chunks_stored = 0;
  uint64_t chunks_reused = 0;    // found in this image or a dictionary
  uint64_t data_blob_bytes = 0;  // the blobs this conversion wrote
  uint64_t metadata_bytes = 0;
  std::vector<std::string> prefetch_missing;
};

using ConvertProgressFn = std::function<void(const ConvertProgress&)>;

// Fills metadata.prefetch from `wanted` (as ConvertOptions::prefetch);
// returns the entries that name nothing.
std::vector<std::string> ChoosePrefetch(const std::vector<std::string>& wanted, Metadata& metadata);

// Converts the image `manifest` of `source` into `destination` (untagged:
// the caller tags report.manifest). InvalidArgument for a source that is
// not an image of tar layers (e.g. already lazy), Corruption for damaged
// layers or blobs, naming the layer and entry.
Result<ConvertReport> ConvertImage(const OciLayout& source, const Descriptor& manifest,
                                   OciLayout& destination, const ConvertOptions& options,
                                   const ConvertProgressFn& progress = {});

}  // namespace feilong::image
