// Routes of the OCI distribution API the mirror handles itself, and the
// query-string helpers the mirror needs. Pure functions on strings.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace feilong::mirror {

// GET /v2/<name>/blobs/sha256:<hex>, see the OCI distribution spec
// ("Pulling blobs"). `name` is one or more path components of
// [a-z0-9._-] separated by '/'; the digest must be sha256 with 64 lowercase
// hex characters (other algorithms pass through to the registry).
struct BlobRoute {
  std::string name;        // repository, e.g. "library/alpine"
  std::string digest_hex;  // 64 lowercase hex characters
  std::string Digest() const { return "sha256:" + digest_hex; }
};

// The blob route of a request path (no query string), or nullopt when the
// path is anything else (manifests, tags, uploads, /v2/, malformed).
std::optional<BlobRoute> ParseBlobRoute(std::string_view path);

// A request target split at the first '?'.
struct Target {
  std::string path;
  std::string query;  // without '?'; empty if none
};
Target SplitTarget(std::string_view target);

// The value of the first query parameter `name` (percent-decoded), or
// nullopt. "a=1&ns=docker.io" -> "docker.io" for "ns".
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

// `query` without any parameter named `name`.
std::string RemoveQueryParam(std::string_view query, std::string_view name);

}  // namespace feilong::mirror
