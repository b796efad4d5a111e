// SourceClient: reads content from its origin ("back to source").
//
// One interface, one implementation per URL scheme; NewSourceClient() picks
// it. Today: http and https (HttpSource, libcurl).
//
// Errors (every message names the URL without its query string, which may
// carry signatures and tokens):
//   NotFound          the origin says the content does not exist (404, 410)
//   PermissionDenied  the origin refuses the caller (401, 403)
//   InvalidArgument   a bad URL or request (other 4xx, unsupported scheme)
//   Unavailable       the origin cannot be reached, fails (5xx), or sends
//                     fewer bytes than it promised
//   DeadlineExceeded  connect timeout, or no byte for `stall_timeout`
//   FailedPrecondition the origin ignores Range where a range is required
//   (any code)        a sink's error, returned unchanged
//
// Thread rule: implementations are thread-safe; one client may serve
// concurrent calls from many threads and multis.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "source/origin_policy.h"

namespace feilong::source {

class CurlMulti;  // curl_multi.h

struct SourceRequest {
  // Absolute URL of the content. May carry a signed query string.
  std::string url;
  // Extra request headers sent to the origin as given (e.g. Authorization).
  // A "Range" header here is ignored: the client sets its own.
  std::vector<std::pair<std::string, std::string>> headers;
  // Time to establish the connection (TCP and TLS). Default: 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  // The call fails with DeadlineExceeded when no byte arrives for this long
  // (a stalled origin); detected within about a second past the timeout.
  // Default: 30 s.
  std::chrono::milliseconds stall_timeout{30000};
};

struct ContentInfo {
  uint64_t content_length = 0;  // bytes
  // The origin answers byte ranges (206). When false only a whole-content
  // FetchRange (offset 0, length == content_length) works.
  bool range_supported = false;
};

// Receives the bytes of a FetchRange in order. A non-OK return stops the
// transfer; FetchRange then returns that status.
using SourceSink = std::function<Status(std::span<const uint8_t>)>;

class SourceClient {
 public:
  virtual ~SourceClient() = default;

  // The content's length and whether the origin serves ranges. Transfers at
  // most one byte of content.
  virtual Result<ContentInfo> Probe(const SourceRequest& request) = 0;

  // Streams bytes [offset, offset + length) to `sink`. OK only after exactly
  // `length` bytes were delivered; an origin that sends fewer (a lying
  // Content-Length, a dropped connection) gives Unavailable "origin sent X
  // of Y bytes", never a short success. InvalidArgument if length is 0.
  virtual Status FetchRange(const SourceRequest& request, uint64_t offset, uint64_t length,
                            const SourceSink& sink) = 0;

  // The same two without a waiting thread: they run on `multi`, where the
  // sink is called, and `done` runs once with what the blocking form would
  // return (at once on this thread for a request that cannot start, such as
  // length 0). The client must outlive `done`.
  virtual void ProbeAsync(CurlMulti& multi, const SourceRequest& request,
                          std::function<void(Result<ContentInfo>)> done) = 0;
  virtual void FetchRangeAsync(CurlMulti& multi, const SourceRequest& request, uint64_t offset,
                               uint64_t length, SourceSink sink,
                               std::function<void(Status)> done) = 0;
};

// OK if `url` parses (see url.h) and its scheme has a SourceClient.
// InvalidArgument otherwise, e.g. "unsupported URL scheme 'ftp' in
// 'ftp://host/file'" (the URL redacted).
Status ValidateSourceUrl(std::string_view url);

// Settings every origin client honours.
struct SourceClientOptions {
  // PEM CA bundle trusted for https origins instead of the system store;
  // empty: the system store. Default: empty.
  std::string ca_file;
  // Which origins may be contacted: the URL's host, every redirect's
  // Location and every address connected to (origin_policy.h). A refusal is
  // PermissionDenied. Default: all.
  OriginPolicy origin_policy;
};

// A client for the scheme of `url` (http, https). Errors as
// ValidateSourceUrl(). The client may then be used for any URL of the same
// scheme family.
Result<std::unique_ptr<SourceClient>> NewSourceClient(std::string_view url,
                                                      const SourceClientOptions& options = {});

}  // namespace feilong::source
