// `flimage check`: is a lazy image whole, and is it the image it came from?
//
// VerifyImage reads everything a runtime could read: every data blob
// against its digest, then every chunk decoded and checked against its
// own digest. CompareWithSource re-reads the source image's layers,
// merges them as a conversion does (digests only, nothing stored) and
// compares the two trees: every path, type, mode, owner, time, size,
// device, link target, extended attribute, hard link, and the digests of
// every file's chunks, i.e. its bytes.
//
// Thread rule: free functions; the layouts are only read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/lazy_image.h"
#include "image/oci_layout.h"

namespace feilong::image {

struct VerifyReport {
  uint64_t blobs = 0;
  uint64_t blob_bytes = 0;
  uint64_t chunks = 0;
};

// Corruption naming the first blob or chunk that fails; NotFound for a
// missing blob. `scratch_dir` as MakeChunkReader's.
Result<VerifyReport> VerifyImage(const OciLayout& layout, const LazyImage& image,
                                 const std::string& scratch_dir = kDefaultScratchDir);

// The differences between `image` and the merged tree of the source image
// (at most `limit`, one line each, naming the path); empty when they are
// the same. An error when the source cannot be read.
Result<std::vector<std::string>> CompareWithSource(const LazyImage& image, const OciLayout& source,
                                                   const Descriptor& source_manifest,
                                                   size_t limit = 50);

}  // namespace feilong::image
