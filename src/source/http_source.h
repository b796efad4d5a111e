// HttpSource: the SourceClient for http:// and https:// origins (libcurl).
//
// Probe sends "GET" with "Range: bytes=0-0":
//   206 + Content-Range "bytes 0-0/N"  -> length N, ranges supported
//   200 + Content-Length N             -> length N, ranges not supported (the
//                                         body is not read)
//   416 + Content-Range "bytes */0"    -> length 0 (an empty file)
// (nginx answers an empty file with 200 and Content-Length 0: length 0,
// range_supported false, which means nothing for empty content.)
// FetchRange sends "Range: bytes=offset-(offset+length-1)" and accepts a 206
// whose Content-Range is exactly that range, or a 200 only when offset is 0
// and its Content-Length equals `length` (the whole content of an origin
// without range support). Anything else:
//   200 for another range             -> FailedPrecondition (Range ignored)
//   wrong Content-Range / Length      -> Unavailable
//   fewer bytes than promised         -> Unavailable "origin sent X of Y bytes"
// HTTP errors: 404/410 -> NotFound, 401/403 -> PermissionDenied, other 4xx ->
// InvalidArgument, 5xx -> Unavailable. Redirects are followed (at most
// `max_redirects`, http and https only). Messages start with
// "origin <URL without query>".
//
// The asynchronous forms run on a CurlMulti, whose connection cache they
// use; they check exactly the same.
//
// Thread rule: thread-safe. Each blocking call borrows an idle libcurl handle from a
// small pool (or creates one) and returns it afterwards, so consecutive calls
// reuse connections to the same origin.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/clock.h"
#include "source/origin_policy.h"
#include "source/source_client.h"

namespace feilong::source {

struct HttpSourceOptions {
  // PEM CA bundle for https origins; empty: the system's default store.
  // Default: empty.
  std::string ca_file;
  // Redirects followed per request. Default: 5.
  long max_redirects = 5;
  // Idle libcurl handles (each with its open connections) kept for reuse.
  // Default: 8.
  size_t max_idle_handles = 8;
  // Which origins may be contacted (origin_policy.h). Default: all.
  OriginPolicy origin_policy;
};

class HttpSource final : public SourceClient {
 public:
  explicit HttpSource(HttpSourceOptions options = {}, Clock& clock = SteadyClock::Default());
  ~HttpSource() override;
  HttpSource(const HttpSource&) = delete;
  HttpSource& operator=(const HttpSource&) = delete;

  Result<ContentInfo> Probe(const SourceRequest& request) override;
  Status FetchRange(const SourceRequest& request, uint64_t offset, uint64_t length,
                    const SourceSink& sink) override;
  void ProbeAsync(CurlMulti& multi, const SourceRequest& request,
                  std::function<void(Result<ContentInfo>)> done) override;
  void FetchRangeAsync(CurlMulti& multi, const SourceRequest& request, uint64_t offset,
                       uint64_t length, SourceSink sink, std::function<void(Status)> done) override;

 private:
  class HandlePool;
  class ProbeExchange;
  class RangeExchange;

  HttpSourceOptions options_;
  Clock& clock_;
  std::unique_ptr<HandlePool> pool_;
};

}  // namespace feilong::source
