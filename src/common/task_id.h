// Task identity: what names a task, in one place. A task id is the hex
// SHA-256 of what makes content the same content: for a URL download, its
// normalized URL (source/url.h NormalizeUrlForTaskId), tag, application and
// piece length; for content whose digest is known (flget --digest, OCI
// blobs), the digest and piece length only, so the same bytes under two
// URLs, registries or tokens are one task. Every daemon and scheduler
// computes the same id for the same request. The daemon's mapping of a
// request (TaskSpec) onto these is daemon/services.h TaskIdForSpec.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong {

// TaskSpec.application of OCI blob downloads: a spec with it is
// content-addressed even when it carries its digest nowhere else.
inline constexpr std::string_view kOciBlobApplication = "oci-blob";

// Hex SHA-256 of "<normalized_url>\n<tag>\n<application>\n<piece_length>",
// piece_length in decimal (0: the default rule).
std::string UrlTaskId(std::string_view normalized_url, std::string_view tag,
                      std::string_view application, uint32_t piece_length);

// The task id of content whose SHA-256 is known: hex SHA-256 of
// "oci-blob\0sha256:<digest_hex>", followed by "\0<piece_length>" when a
// piece length is requested. (The prefix is the registry mirror's, which
// used content ids first; keeping it keeps the ids of blobs already
// cached.) REQUIRES: `digest_hex` is 64 lowercase hex characters.
std::string ContentTaskId(std::string_view digest_hex, uint32_t piece_length = 0);

// True if `id` has the form of a task id: 64 lowercase hex characters.
bool IsValidTaskId(std::string_view id);

// Ok, or InvalidArgument quoting (a printable prefix of) the bad id.
Status ValidateTaskId(std::string_view id);

}  // namespace feilong
