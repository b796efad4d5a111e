#include "daemon/download/piece_client.h"

#include <utility>

#include "access/grant.h"
#include "common/task_id.h"
#include "source/curl_multi.h"
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

namespace {

// One fetch's state, shared by libcurl's callbacks and the end.
struct PieceFetch {
  std::string what;
  uint32_t expected_length = 0;
  storage::PieceWriter* writer = nullptr;
  PieceFetchResult result;
  Clock::TimePoint start;

  Status OnHead(const source::CurlResponseHead& head) {
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
  }

  Status OnBody(std::span<const uint8_t> data) {
    if (result.busy != PieceFetchResult::Busy::kNo) {
      return Status::Ok();
    }
    if (data.size() > expected_length - result.bytes) {
      return Status::Corruption(what + ": parent sent more than " +
                                std::to_string(expected_length) + " bytes");
    }
    FL_RETURN_IF_ERROR(writer->Append(data));
    result.bytes += data.size();
    return Status::Ok();
  }

  Result<PieceFetchResult> Conclude(const source::CurlOutcome& outcome,
                                    std::chrono::milliseconds stall_timeout) {
    if (!outcome.callback_status.ok()) {
      return outcome.callback_status;
    }
    if (outcome.curl_code != 0) {
      if (source::IsTruncatedTransfer(outcome) && !outcome.stalled) {
        return Status::Unavailable(what + ": connection closed after " +
                                   Count(result.bytes, expected_length));
      }
      return source::TransportStatus(outcome, what, stall_timeout);
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
};

}  // namespace

void PieceClient::Fetch(source::CurlMulti& multi, const std::string& host, uint16_t port,
                        const std::string& task_id, uint32_t number, uint32_t expected_length,
                        storage::PieceWriter& writer, const std::string& grant,
                        PieceFetchDone done) const {
  const std::string host_port = HostForUrl(host) + ":" + std::to_string(port);
  auto fetch = std::make_shared<PieceFetch>();
  fetch->what = "parent " + host_port + " piece " + std::to_string(number);
  fetch->expected_length = expected_length;
  fetch->writer = &writer;
  if (!IsValidTaskId(task_id)) {
    done(Status::InvalidArgument(fetch->what + ": malformed task id"));
    return;
  }
  if (expected_length == 0) {
    done(Status::InvalidArgument(fetch->what + ": expected length 0"));
    return;
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
  // Wake per 128 KiB of piece, not per few packets: far fewer polls and
  // reads per byte. A parent sending under ~26 KB/s gets stall-timed out
  // (5 s by default) before the mark is reached.
  // Not over TLS: plaintext OpenSSL already pulled off the socket would not
  // count, and a mark above what is left on the wire stalls the last bytes.
  request.receive_low_water = tls ? 0 : 128 * 1024;

  fetch->start = clock_.Now();
  multi.Start(
      std::move(request),
      [fetch](const source::CurlResponseHead& head) { return fetch->OnHead(head); },
      [fetch](std::span<const uint8_t> data) { return fetch->OnBody(data); },
      [fetch, &clock = clock_, stall = options_.stall_timeout,
       done = std::move(done)](source::CurlOutcome outcome) {
        fetch->result.elapsed = clock.Now() - fetch->start;
        done(fetch->Conclude(outcome, stall));
      });
}

}  // namespace feilong::daemon
