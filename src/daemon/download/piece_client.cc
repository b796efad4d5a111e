#include "daemon/download/piece_client.h"

#include <utility>

#include "access/grant.h"
#include "source/curl_transfer.h"
#include "source/url.h"

namespace feilong::daemon {

namespace {

constexpr char kDigestHeader[] = "x-feilong-piece-digest";
constexpr char kBusyHeader[] = "x-feilong-busy";

std::string HostForUrl(const std::string& host) {
  if (host.find(':') != std::string::npos && !host.starts_with("[")) {
    return "[" + host + "]";  // a bare IPv6 address
  }
  return host;
}

std::string Count(uint64_t received, uint64_t expected) {
  return std::to_string(received) + " of " + std::to_string(expected) + " bytes";
}

}  // namespace

PieceClient::PieceClient(PieceClientOptions options, Clock& clock)
    : options_(options), clock_(clock), handle_(std::make_unique<source::CurlHandle>()) {}

PieceClient::~PieceClient() = default;

Result<PieceFetchResult> PieceClient::Fetch(const std::string& host, uint16_t port,
                                            const std::string& task_id, uint32_t number,
                                            uint32_t expected_length, storage::PieceWriter& writer,
                                            const std::string& grant) {
  const std::string host_port = HostForUrl(host) + ":" + std::to_string(port);
  const std::string what = "parent " + host_port + " piece " + std::to_string(number);
  if (!source::IsValidTaskId(task_id)) {
    return Status::InvalidArgument(what + ": malformed task id");
  }
  if (expected_length == 0) {
    return Status::InvalidArgument(what + ": expected length 0");
  }

  source::CurlRequest request;
  const bool tls = !options_.tls.ca_file.empty();
  request.url = (tls ? "https://" : "http://") + host_port + "/pieces/" + task_id + "/" +
                std::to_string(number);
  if (tls) {
    request.ca_file = options_.tls.ca_file;
    request.client_cert_file = options_.tls.cert_file;
    request.client_key_file = options_.tls.key_file;
  }
  request.connect_timeout = options_.connect_timeout;
  request.stall_timeout = options_.stall_timeout;
  request.max_redirects = 0;
  if (!grant.empty()) {
    request.headers.emplace_back(std::string(access::kGrantHeader), grant);
  }
  // One connection per parent: a download spreads its requests over up to
  // 2 x download.parent.wanted (<= 128) parents.
  request.max_idle_connections = 128;
  // Wake per 128 KiB of piece, not per few packets: far fewer polls and
  // reads per byte. A parent sending under ~26 KB/s gets stall-timed out
  // (5 s by default) before the mark is reached.
  // Not over TLS: plaintext OpenSSL already pulled off the socket would not
  // count, and a mark above what is left on the wire stalls the last bytes.
  request.receive_low_water = tls ? 0 : 128 * 1024;

  PieceFetchResult result;
  auto on_head = [&](const source::CurlResponseHead& head) -> Status {
    if (const std::string* busy = head.Find(kBusyHeader); head.status == 503 && busy != nullptr) {
      result.busy =
          *busy == "piece" ? PieceFetchResult::Busy::kPiece : PieceFetchResult::Busy::kParent;
      return Status::Ok();  // the short body that follows is skipped
    }
    if (head.status != 200) {
      std::string message = what + ": HTTP " + std::to_string(head.status);
      if (head.status == 404) {
        return Status::NotFound(std::move(message));
      }
      if (head.status == 403) {
        return Status::PermissionDenied(message + " (private task: grant refused)");
      }
      if (head.status >= 400 && head.status < 500) {
        return Status::InvalidArgument(std::move(message));
      }
      return Status::Unavailable(std::move(message));
    }
    const std::string* length_text = head.Find("content-length");
    uint64_t declared = 0;
    if (length_text == nullptr || !source::ParseUint64(*length_text, &declared)) {
      return Status::Corruption(what + ": no valid Content-Length");
    }
    if (declared != expected_length) {
      return Status::Corruption(what + ": parent declared " + std::to_string(declared) +
                                " bytes, expected " + std::to_string(expected_length));
    }
    if (const std::string* digest = head.Find(kDigestHeader); digest != nullptr) {
      Result<Sha256Digest> parsed = ParseSha256String(*digest);
      if (!parsed.ok()) {
        return Status::Corruption(what + ": malformed digest header");
      }
      result.parent_digest = *parsed;
    }
    return Status::Ok();
  };
  auto on_body = [&](std::span<const uint8_t> data) -> Status {
    if (result.busy != PieceFetchResult::Busy::kNo) {
      return Status::Ok();
    }
    if (data.size() > expected_length - result.bytes) {
      return Status::Corruption(what + ": parent sent more than " +
                                std::to_string(expected_length) + " bytes");
    }
    FL_RETURN_IF_ERROR(writer.Append(data));
    result.bytes += data.size();
    return Status::Ok();
  };

  Clock::TimePoint start = clock_.Now();
  source::CurlOutcome outcome = source::PerformGet(*handle_, request, on_head, on_body, clock_);
  result.elapsed = clock_.Now() - start;
  if (!outcome.callback_status.ok()) {
    return outcome.callback_status;
  }
  if (outcome.curl_code != 0) {
    if (source::IsTruncatedTransfer(outcome) && !outcome.stalled) {
      return Status::Unavailable(what + ": connection closed after " +
                                 Count(result.bytes, expected_length));
    }
    return source::TransportStatus(outcome, what, options_.stall_timeout);
  }
  if (!outcome.head_complete) {
    return Status::Unavailable(what + ": no response");
  }
  if (result.busy != PieceFetchResult::Busy::kNo) {
    return result;
  }
  if (result.bytes != expected_length) {
    return Status::Corruption(what + ": parent sent " + Count(result.bytes, expected_length));
  }
  return result;
}

}  // namespace feilong::daemon
