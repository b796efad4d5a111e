// UnpackToTar: `flimage unpack` — the merged root filesystem of a lazy image
// as one tar archive (PAX), which extracts to what the source image's layers
// extract to (`umoci unpack`, `docker export` of a fresh container).
//
// Entries come in the metadata's order (depth first, names in byte order),
// the root first as "./"; a second name of a file is a hard-link entry;
// extended attributes go in PAX headers (SCHILY.xattr.*, as GNU tar
// --xattrs reads them); owners are numeric only. Every chunk is verified
// before its bytes are written.
//
// Thread rule: one call per ChunkReader at a time.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "image/lazy_image.h"
#include "image/metadata.h"

namespace feilong::image {

struct UnpackStats {
  uint64_t entries = 0;
  uint64_t file_bytes = 0;
};

// Writes the tar to `output` ("-": standard output). IOError when it
// cannot be written, the ChunkReader's error when a chunk cannot be read.
Result<UnpackStats> UnpackToTar(const Metadata& metadata, ChunkReader& chunks,
                                const std::string& output);

}  // namespace feilong::image
