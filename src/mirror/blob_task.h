// Task ids of OCI blobs: content-addressed, so every peer asking for a blob
// joins one task whatever registry URL, repository or token it came with.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace feilong::mirror {

// TaskSpec.application of blob downloads. A spec with this application and
// a digest gets BlobTaskId(digest) as its task id (services TaskIdForSpec),
// so a seed peer triggered for the task computes the same id.
inline constexpr std::string_view kOciBlobApplication = "oci-blob";

// Hex SHA-256 of "oci-blob\0sha256:<hex>". REQUIRES: `digest_hex` is the
// 64-character lowercase hex of a sha256 digest. Never derived from a URL
// or a credential.
std::string BlobTaskId(std::string_view digest_hex);

}  // namespace feilong::mirror
