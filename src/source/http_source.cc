#include "source/http_source.h"

#include <limits>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "source/curl_transfer.h"
#include "source/url.h"

namespace feilong::source {

namespace {

constexpr uint64_t kUnknownLength = std::numeric_limits<uint64_t>::max();

std::string Describe(const CurlResponseHead& head) { return "HTTP " + std::to_string(head.status); }

// The Status for a final response that is not a success.
Status HttpErrorStatus(const CurlResponseHead& head, const std::string& what) {
  long code = head.status;
  std::string message = what + ": " + Describe(head);
  if (code == 404 || code == 410) {
    return Status::NotFound(std::move(message));
  }
  if (code == 401 || code == 403) {
    return Status::PermissionDenied(std::move(message));
  }
  if (code >= 400 && code < 500) {
    return Status::InvalidArgument(std::move(message));
  }
  if (code >= 500 && code < 600) {
    return Status::Unavailable(std::move(message));
  }
  return Status::Unavailable(what + ": unexpected " + Describe(head));
}

std::string ShortCount(uint64_t received, uint64_t expected) {
  return "origin sent " + std::to_string(received) + " of " + std::to_string(expected) + " bytes";
}

// Stops a transfer on purpose (the probe has what it needs); never returned.
Status StopSentinel() { return Status::Cancelled("probe complete"); }

}  // namespace

class HttpSource::HandlePool {
 public:
  explicit HandlePool(size_t max_idle) : max_idle_(max_idle) {}

  std::unique_ptr<CurlHandle> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<CurlHandle> handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
      }
    }
    return std::make_unique<CurlHandle>();
  }

  void Release(std::unique_ptr<CurlHandle> handle) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(handle));
    }
  }

 private:
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<CurlHandle>> idle_;  // guarded by mu_
};

namespace {

// Borrows a handle for one call.
template <typename Pool>
class Lease {
 public:
  explicit Lease(Pool& pool) : pool_(pool), handle_(pool.Acquire()) {}
  ~Lease() { pool_.Release(std::move(handle_)); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  CurlHandle& handle() { return *handle_; }

 private:
  Pool& pool_;
  std::unique_ptr<CurlHandle> handle_;
};

}  // namespace

HttpSource::HttpSource(HttpSourceOptions options, Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      pool_(std::make_unique<HandlePool>(options_.max_idle_handles)) {
  EnsureCurlGlobalInit();
}

HttpSource::~HttpSource() = default;

Result<ContentInfo> HttpSource::Probe(const SourceRequest& request) {
  const std::string what = "origin " + RedactUrl(request.url);
  CurlRequest curl_request{
      request.url,           request.headers,        "0-0",           request.connect_timeout,
      request.stall_timeout, options_.max_redirects, options_.ca_file};
  curl_request.origin_policy = &options_.origin_policy;

  std::optional<ContentInfo> info;
  bool stopped_on_purpose = false;
  auto on_head = [&](const CurlResponseHead& head) -> Status {
    if (head.status == 206) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value == nullptr || !ParseContentRange(*value, &range)) {
        return Status::Unavailable(what + ": 206 without a valid Content-Range");
      }
      if (range.total == kUnknownLength) {
        return Status::Unavailable(what + ": origin did not report the total length");
      }
      info = ContentInfo{range.total, true};
      return Status::Ok();
    }
    if (head.status == 200) {
      std::optional<uint64_t> length = ContentLength(head);
      if (!length.has_value()) {
        return Status::Unavailable(what + ": origin ignores Range and sent no Content-Length");
      }
      info = ContentInfo{*length, false};
      stopped_on_purpose = true;
      return StopSentinel();  // do not download the whole body
    }
    if (head.status == 416) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value != nullptr && ParseContentRange(*value, &range) && range.total == 0) {
        info = ContentInfo{0, true};
        stopped_on_purpose = true;
        return StopSentinel();
      }
      return Status::Unavailable(what + ": HTTP 416 for bytes=0-0 of non-empty content");
    }
    return HttpErrorStatus(head, what);
  };
  uint64_t body_bytes = 0;
  auto on_body = [&](std::span<const uint8_t> data) -> Status {
    body_bytes += data.size();
    if (body_bytes > 1) {
      // Only one byte was asked for; do not read a body that ignores that.
      stopped_on_purpose = true;
      return StopSentinel();
    }
    return Status::Ok();
  };

  Lease<HandlePool> lease(*pool_);
  CurlOutcome outcome = PerformGet(lease.handle(), curl_request, on_head, on_body, clock_);
  if (info.has_value() && (stopped_on_purpose || outcome.curl_code == 0)) {
    return *info;
  }
  if (!outcome.callback_status.ok() && !stopped_on_purpose) {
    return outcome.callback_status;
  }
  if (outcome.curl_code != 0) {
    return TransportStatus(outcome, what, request.stall_timeout);
  }
  return Status::Unavailable(what + ": no response");
}

Status HttpSource::FetchRange(const SourceRequest& request, uint64_t offset, uint64_t length,
                              const SourceSink& sink) {
  const std::string what = "origin " + RedactUrl(request.url);
  if (length == 0) {
    return Status::InvalidArgument(what + ": empty range at offset " + std::to_string(offset));
  }
  if (offset > kUnknownLength - length) {
    return Status::InvalidArgument(what + ": range overflows");
  }
  const uint64_t last = offset + length - 1;
  const std::string range_text = std::to_string(offset) + "-" + std::to_string(last);
  CurlRequest curl_request{
      request.url,           request.headers,        range_text,      request.connect_timeout,
      request.stall_timeout, options_.max_redirects, options_.ca_file};
  curl_request.origin_policy = &options_.origin_policy;

  auto on_head = [&](const CurlResponseHead& head) -> Status {
    if (head.status == 206) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value == nullptr || !ParseContentRange(*value, &range)) {
        return Status::Unavailable(what +
                                   ": 206 without a valid Content-Range for bytes=" + range_text);
      }
      if (range.first != offset || range.last != last) {
        return Status::Unavailable(what + ": origin answered '" + *value +
                                   "' for bytes=" + range_text);
      }
      std::optional<uint64_t> declared = ContentLength(head);
      if (declared.has_value() && *declared != length) {
        return Status::Unavailable(what + ": Content-Length " + std::to_string(*declared) +
                                   " for bytes=" + range_text);
      }
      return Status::Ok();
    }
    if (head.status == 200) {
      std::optional<uint64_t> declared = ContentLength(head);
      if (offset == 0 && declared == length) {
        return Status::Ok();  // the whole content of an origin without ranges
      }
      return Status::FailedPrecondition(
          what + ": origin ignored Range (HTTP 200 for bytes=" + range_text + ")");
    }
    return HttpErrorStatus(head, what);
  };
  uint64_t received = 0;
  auto on_body = [&](std::span<const uint8_t> data) -> Status {
    if (data.size() > length - received) {
      return Status::Unavailable(what + ": origin sent more than " + std::to_string(length) +
                                 " bytes for bytes=" + range_text);
    }
    received += data.size();
    return sink(data);
  };

  Lease<HandlePool> lease(*pool_);
  CurlOutcome outcome = PerformGet(lease.handle(), curl_request, on_head, on_body, clock_);
  if (!outcome.callback_status.ok()) {
    return outcome.callback_status;
  }
  if (outcome.curl_code != 0) {
    if (IsTruncatedTransfer(outcome) && !outcome.stalled) {
      return Status::Unavailable(what + ": " + ShortCount(received, length));
    }
    return TransportStatus(outcome, what, request.stall_timeout);
  }
  if (received != length) {
    return Status::Unavailable(what + ": " + ShortCount(received, length));
  }
  return Status::Ok();
}

}  // namespace feilong::source
