// URLs of origins: parsing, the normalized form a task id is computed from
// (common/task_id.h), redaction for logs and the default piece length.
//
// Query strings of origin URLs often carry signatures and tokens (pre-signed
// object store URLs). They must never reach a log line or an error message:
// use RedactUrl() for anything shown, and NormalizeUrlForTaskId() for what
// identifies the content.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong::source {

// An absolute URL split into its parts, as written (no decoding).
struct ParsedUrl {
  std::string scheme;    // lowercased
  std::string userinfo;  // before '@' in the authority; empty if none
  std::string host;      // as written; an IPv6 literal keeps its brackets
  std::optional<uint16_t> port;
  std::string path;                     // from the first '/' after the authority; may be empty
  std::optional<std::string> query;     // after '?', without it
  std::optional<std::string> fragment;  // after '#', without it
};

// Parses "scheme://[userinfo@]host[:port][/path][?query][#fragment]".
// InvalidArgument (naming the redacted URL) for: no "scheme://", a bad
// scheme, an empty or malformed host, a port that is not 1..65535, and
// whitespace or control characters anywhere.
Result<ParsedUrl> ParseUrl(std::string_view url);

// The form of `url` that identifies its content:
//   - scheme and host lowercased, the default port (80 for http, 443 for
//     https) dropped, userinfo and fragment dropped;
//   - path: empty becomes "/", dot segments ("." and "..") resolved,
//     percent escapes uppercased ("%2f" -> "%2F");
//   - query: signature parameters removed, the remaining parameters sorted
//     (byte order of "name=value"), empty parameters dropped, no '?' left
//     when nothing remains.
// Signature parameters (names compared case-insensitively):
//   X-Amz-*            AWS SigV4 (S3 and S3-compatible stores)
//   X-Goog-*           Google Cloud Storage V4 signing
//   X-Obs-*            Huawei OBS
//   q-sign-*, q-ak, q-key-time, q-header-list, q-url-param-list, q-signature
//                      Tencent COS
//   Expires, Signature, OSSAccessKeyId, AWSAccessKeyId
//                      AWS SigV2, Aliyun OSS
//   ns                 added by containerd to registry mirror requests
// InvalidArgument for a URL ParseUrl() rejects.
Result<std::string> NormalizeUrlForTaskId(std::string_view url);

// True if `name` (a query parameter name) is one of the signature parameters
// listed above.
bool IsSignatureQueryParameter(std::string_view name);

// Whether fetching `url` uses credentials: userinfo in the authority, or a
// query parameter of a signed URL (the signature parameters above except
// Expires and ns, and sig, token, access_token). A URL ParseUrl() rejects
// counts as one (fail closed). Content fetched with credentials is private:
// see access/grant.h.
bool UrlCarriesCredentials(std::string_view url);
// Whether a request header `name` carries credentials: Authorization,
// Proxy-Authorization, Cookie (case-insensitive).
bool IsCredentialHeader(std::string_view name);

// `url` without userinfo, query and fragment: safe for logs and errors.
// Best effort on malformed input (still cuts at the first '?' or '#').
std::string RedactUrl(std::string_view url);

constexpr uint32_t kMinPieceLength = 512u << 10;  // 512 KiB
constexpr uint32_t kMaxPieceLength = 64u << 20;   // 64 MiB
// The smallest piece length a download may ask for explicitly.
constexpr uint32_t kMinRequestedPieceLength = 64u << 10;  // 64 KiB

// The piece length for a content length when none is requested: the next
// power of two of content_length / 1024, clamped to [512 KiB, 64 MiB]; so
// about 512 to 1024 pieces. A file under 512 KiB is one piece. A child
// passes a piece on only once it holds all of it, so a piece reaches the
// last child several piece-times after the seed got it; with 500 or more
// pieces that delay stays a few percent of the whole transfer (swarm
// benchmark, 16 hosts, 512 MiB at 25 Mbit/s: 1 MiB pieces 1.14-1.16 x
// T_min, 512 KiB 1.13; at 100 Mbit/s 1.17 and 1.16, for ~20 % more CPU).
// Files of up to 512 MiB have 512 KiB pieces, up to 1 GiB 1 MiB.
uint32_t DefaultPieceLength(uint64_t content_length);

}  // namespace feilong::source
