// A thin layer over one libcurl easy transfer, shared by the origin client
// (HttpSource) and the peer piece client (daemon/PieceClient): one GET with
// optional Range, the final response head (after redirects) handed to a
// callback before the first body byte, body bytes to a second callback, and
// a stall watchdog (no byte for `stall_timeout` aborts the transfer).
//
// libcurl stays out of this header.
//
// Many GETs at once on an event loop: curl_multi.h.
//
// Thread rule: CurlHandle and PerformGet are not thread-safe per handle; use
// one handle per thread at a time. EnsureCurlGlobalInit() is thread-safe.
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

#include "common/clock.h"
#include "common/status.h"
#include "source/http_head.h"
#include "source/origin_policy.h"

namespace feilong::source {

// Calls curl_global_init once per process. Thread-safe; every libcurl user in
// Feilong calls it before creating a handle (CurlHandle does).
void EnsureCurlGlobalInit();

class SocketRegistry;  // curl_exchange.h

// Owns one libcurl easy handle. Keeping a handle across transfers keeps its
// connection cache: the next request to the same host reuses the connection.
class CurlHandle {
 public:
  CurlHandle();  // aborts if libcurl cannot allocate a handle
  ~CurlHandle();
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;

  void* get() const { return handle_; }  // the CURL*
  // The sockets of the handle's connections (for the low-water mark).
  SocketRegistry& sockets() { return *sockets_; }

 private:
  std::unique_ptr<SocketRegistry> sockets_;
  void* handle_;
};

struct CurlRequest {
  std::string url;  // full URL, as sent
  std::vector<std::pair<std::string, std::string>> headers;
  // "first-last" for a Range header ("bytes=first-last"); empty: none.
  std::string range;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds stall_timeout{30000};
  // Redirects followed (http and https only). 0: a 3xx is the final answer.
  long max_redirects = 0;
  // PEM CA bundle for https; empty: the system default.
  std::string ca_file;
  // PEM certificate and key presented to an https server that asks for a
  // client certificate (mutual TLS); empty: none.
  std::string client_cert_file;
  std::string client_key_file;
  // Idle connections the handle keeps for later requests, to any hosts; 0:
  // libcurl's default (5). A handle that cycles over more hosts than it
  // keeps reconnects all the time.
  long max_idle_connections = 0;
  // While a body with a Content-Length arrives, the socket wakes libcurl
  // only once this many bytes wait (SO_RCVLOWAT; less near the end), not
  // for every few packets: fewer polls and reads per byte. 0: off. Keep it
  // small next to what a healthy sender delivers in `stall_timeout`.
  int receive_low_water = 0;
  // When set, checked for the URL's host, the Location of every redirect,
  // and every address a connection is opened to; a refusal stops the
  // transfer with the policy's PermissionDenied in callback_status. A
  // connection kept from an earlier transfer was checked when it opened.
  // Under a policy that can refuse anything, proxies from the environment
  // (http_proxy, ...) are not used: the address check needs the origin's
  // own address.
  // Must outlive the call. Default: none.
  const OriginPolicy* origin_policy = nullptr;
};

// What happened to a transfer.
struct CurlOutcome {
  int curl_code = 0;       // CURLcode; 0 (CURLE_OK) when the transfer completed
  bool stalled = false;    // the stall watchdog aborted the transfer
  Status callback_status;  // the first non-OK status a callback returned
  bool head_complete = false;
  CurlResponseHead head;
  uint64_t body_bytes = 0;  // bytes handed to on_body
  std::string error;        // libcurl's error text with query strings removed
};

using CurlHeadCallback = std::function<Status(const CurlResponseHead&)>;
using CurlBodyCallback = std::function<Status(std::span<const uint8_t>)>;

// Performs a GET on `handle` (its options are reset first; its connection
// cache is kept). `on_head` is called exactly once when a complete final
// head arrived: before the first body byte, or after the transfer when there
// was no body. A non-OK status from either callback stops the transfer and
// is kept in `callback_status`.
CurlOutcome PerformGet(CurlHandle& handle, const CurlRequest& request,
                       const CurlHeadCallback& on_head, const CurlBodyCallback& on_body,
                       Clock& clock);

// The Status for a transfer that failed in transport (curl_code != 0 and no
// callback status): connect failures and resets -> Unavailable, timeouts and
// stalls -> DeadlineExceeded, bad URLs, protocols and redirect loops ->
// InvalidArgument. `what` prefixes the message (e.g. "origin http://h/f").
Status TransportStatus(const CurlOutcome& outcome, std::string_view what,
                       std::chrono::milliseconds stall_timeout);

// True if libcurl reported a body shorter than the declared Content-Length
// or a connection closed mid-body.
bool IsTruncatedTransfer(const CurlOutcome& outcome);

// Removes query strings ("?..." up to whitespace or a quote) from `text`.
std::string ScrubQueryStrings(std::string_view text);

}  // namespace feilong::source
