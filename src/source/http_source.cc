#include "source/http_source.h"

#include <limits>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "source/curl_multi.h"
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

// Probe's reading of the answer to "Range: bytes=0-0".
class HttpSource::ProbeExchange {
 public:
  ProbeExchange(const SourceRequest& request, const HttpSourceOptions& options)
      : what_("origin " + RedactUrl(request.url)),
        curl_request_{
            request.url,           request.headers,       "0-0",          request.connect_timeout,
            request.stall_timeout, options.max_redirects, options.ca_file} {
    curl_request_.origin_policy = &options.origin_policy;
  }

  const CurlRequest& curl_request() const { return curl_request_; }

  Status OnHead(const CurlResponseHead& head) {
    if (head.status == 206) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value == nullptr || !ParseContentRange(*value, &range)) {
        return Status::Unavailable(what_ + ": 206 without a valid Content-Range");
      }
      if (range.total == kUnknownLength) {
        return Status::Unavailable(what_ + ": origin did not report the total length");
      }
      info_ = ContentInfo{range.total, true};
      return Status::Ok();
    }
    if (head.status == 200) {
      std::optional<uint64_t> length = ContentLength(head);
      if (!length.has_value()) {
        return Status::Unavailable(what_ + ": origin ignores Range and sent no Content-Length");
      }
      info_ = ContentInfo{*length, false};
      stopped_on_purpose_ = true;
      return StopSentinel();  // do not download the whole body
    }
    if (head.status == 416) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value != nullptr && ParseContentRange(*value, &range) && range.total == 0) {
        info_ = ContentInfo{0, true};
        stopped_on_purpose_ = true;
        return StopSentinel();
      }
      return Status::Unavailable(what_ + ": HTTP 416 for bytes=0-0 of non-empty content");
    }
    return HttpErrorStatus(head, what_);
  }

  Status OnBody(std::span<const uint8_t> data) {
    body_bytes_ += data.size();
    if (body_bytes_ > 1) {
      // Only one byte was asked for; do not read a body that ignores that.
      stopped_on_purpose_ = true;
      return StopSentinel();
    }
    return Status::Ok();
  }

  Result<ContentInfo> Conclude(const CurlOutcome& outcome) const {
    if (info_.has_value() && (stopped_on_purpose_ || outcome.curl_code == 0)) {
      return *info_;
    }
    if (!outcome.callback_status.ok() && !stopped_on_purpose_) {
      return outcome.callback_status;
    }
    if (outcome.curl_code != 0) {
      return TransportStatus(outcome, what_, curl_request_.stall_timeout);
    }
    return Status::Unavailable(what_ + ": no response");
  }

 private:
  const std::string what_;
  CurlRequest curl_request_;
  std::optional<ContentInfo> info_;
  bool stopped_on_purpose_ = false;
  uint64_t body_bytes_ = 0;
};

// FetchRange's checks of the answer and of the bytes, handed to the sink.
class HttpSource::RangeExchange {
 public:
  RangeExchange(const SourceRequest& request, const HttpSourceOptions& options, uint64_t offset,
                uint64_t length, SourceSink sink)
      : what_("origin " + RedactUrl(request.url)),
        offset_(offset),
        length_(length),
        sink_(std::move(sink)) {
    if (length == 0) {
      invalid_ =
          Status::InvalidArgument(what_ + ": empty range at offset " + std::to_string(offset));
      return;
    }
    if (offset > kUnknownLength - length) {
      invalid_ = Status::InvalidArgument(what_ + ": range overflows");
      return;
    }
    last_ = offset + length - 1;
    range_text_ = std::to_string(offset) + "-" + std::to_string(last_);
    curl_request_ = CurlRequest{
        request.url,           request.headers,       range_text_,    request.connect_timeout,
        request.stall_timeout, options.max_redirects, options.ca_file};
    curl_request_.origin_policy = &options.origin_policy;
  }

  // Not OK when the range itself is bad: nothing is to be sent.
  const Status& invalid() const { return invalid_; }
  const CurlRequest& curl_request() const { return curl_request_; }

  Status OnHead(const CurlResponseHead& head) const {
    if (head.status == 206) {
      const std::string* value = head.Find("content-range");
      ContentRange range;
      if (value == nullptr || !ParseContentRange(*value, &range)) {
        return Status::Unavailable(what_ +
                                   ": 206 without a valid Content-Range for bytes=" + range_text_);
      }
      if (range.first != offset_ || range.last != last_) {
        return Status::Unavailable(what_ + ": origin answered '" + *value +
                                   "' for bytes=" + range_text_);
      }
      std::optional<uint64_t> declared = ContentLength(head);
      if (declared.has_value() && *declared != length_) {
        return Status::Unavailable(what_ + ": Content-Length " + std::to_string(*declared) +
                                   " for bytes=" + range_text_);
      }
      return Status::Ok();
    }
    if (head.status == 200) {
      std::optional<uint64_t> declared = ContentLength(head);
      if (offset_ == 0 && declared == length_) {
        return Status::Ok();  // the whole content of an origin without ranges
      }
      return Status::FailedPrecondition(
          what_ + ": origin ignored Range (HTTP 200 for bytes=" + range_text_ + ")");
    }
    return HttpErrorStatus(head, what_);
  }

  Status OnBody(std::span<const uint8_t> data) {
    if (data.size() > length_ - received_) {
      return Status::Unavailable(what_ + ": origin sent more than " + std::to_string(length_) +
                                 " bytes for bytes=" + range_text_);
    }
    received_ += data.size();
    return sink_(data);
  }

  Status Conclude(const CurlOutcome& outcome) const {
    if (!outcome.callback_status.ok()) {
      return outcome.callback_status;
    }
    if (outcome.curl_code != 0) {
      if (IsTruncatedTransfer(outcome) && !outcome.stalled) {
        return Status::Unavailable(what_ + ": " + ShortCount(received_, length_));
      }
      return TransportStatus(outcome, what_, curl_request_.stall_timeout);
    }
    if (received_ != length_) {
      return Status::Unavailable(what_ + ": " + ShortCount(received_, length_));
    }
    return Status::Ok();
  }

 private:
  const std::string what_;
  const uint64_t offset_;
  const uint64_t length_;
  uint64_t last_ = 0;
  std::string range_text_;
  SourceSink sink_;
  Status invalid_;
  CurlRequest curl_request_;
  uint64_t received_ = 0;
};

namespace {

// Runs an exchange (ProbeExchange, RangeExchange) as a blocking GET on a
// handle borrowed from `pool`; returns what the exchange concludes.
template <typename Exchange, typename Pool>
auto Perform(Pool& pool, Exchange& exchange, Clock& clock) {
  Lease<Pool> lease(pool);
  CurlOutcome outcome = PerformGet(
      lease.handle(), exchange.curl_request(),
      [&](const CurlResponseHead& head) { return exchange.OnHead(head); },
      [&](std::span<const uint8_t> data) { return exchange.OnBody(data); }, clock);
  return exchange.Conclude(outcome);
}

// The same on `multi`; `done` gets what the exchange concludes.
template <typename Exchange, typename Done>
void StartOn(CurlMulti& multi, std::shared_ptr<Exchange> exchange, Done done) {
  multi.Start(
      exchange->curl_request(),
      [exchange](const CurlResponseHead& head) { return exchange->OnHead(head); },
      [exchange](std::span<const uint8_t> data) { return exchange->OnBody(data); },
      [exchange, done = std::move(done)](CurlOutcome outcome) {
        done(exchange->Conclude(outcome));
      });
}

}  // namespace

Result<ContentInfo> HttpSource::Probe(const SourceRequest& request) {
  ProbeExchange exchange(request, options_);
  return Perform(*pool_, exchange, clock_);
}

Status HttpSource::FetchRange(const SourceRequest& request, uint64_t offset, uint64_t length,
                              const SourceSink& sink) {
  RangeExchange exchange(request, options_, offset, length, sink);
  if (!exchange.invalid().ok()) {
    return exchange.invalid();
  }
  return Perform(*pool_, exchange, clock_);
}

void HttpSource::ProbeAsync(CurlMulti& multi, const SourceRequest& request,
                            std::function<void(Result<ContentInfo>)> done) {
  StartOn(multi, std::make_shared<ProbeExchange>(request, options_), std::move(done));
}

void HttpSource::FetchRangeAsync(CurlMulti& multi, const SourceRequest& request, uint64_t offset,
                                 uint64_t length, SourceSink sink,
                                 std::function<void(Status)> done) {
  auto exchange =
      std::make_shared<RangeExchange>(request, options_, offset, length, std::move(sink));
  if (!exchange->invalid().ok()) {
    done(exchange->invalid());
    return;
  }
  StartOn(multi, std::move(exchange), std::move(done));
}

}  // namespace feilong::source
