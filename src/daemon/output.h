// Writing a finished task to the caller's output path.
#pragma once

#include <optional>
#include <string>

#include "common/digest.h"
#include "common/status.h"

namespace feilong::daemon {

// Makes `output_path` hold the bytes of `content_path`: a hard link when
// both are on one file system, a copy otherwise (or when linking is not
// permitted). The output appears atomically (written beside it, then
// renamed); an existing file is replaced, a directory is an error. When
// `digest` is set the output's SHA-256 must match, else it is removed and
// Corruption is returned.
//
// Note: a hard-linked output shares its inode with the cache; the content
// file is read-only (0444) so an accidental write fails instead of
// corrupting cached pieces.
Status WriteOutput(const std::string& content_path, const std::string& output_path,
                   const std::optional<Sha256Digest>& digest);

}  // namespace feilong::daemon
