// What a proxy request names and which way it goes. Pure functions on
// strings, so the server and the unit tests run the same decisions.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/host_port.h"
#include "common/status.h"

namespace feilong::proxy {

class UrlRules;

// How a request is served; also the `route` label of logs and metrics.
enum class Route {
  kP2P,      // a P2P download through the daemon, streamed from the piece store
  kForward,  // passed to the origin and relayed back
  kTunnel,   // CONNECT: bytes copied both ways
  kHijack,   // CONNECT to an intercepted host: TLS ends at the proxy
};
std::string_view RouteName(Route route);

// The origin a request goes to.
struct ProxyTarget {
  std::string scheme;          // "http" or "https"
  std::string host;            // host name or address, IPv6 without brackets
  uint16_t port = 0;           // explicit or the scheme's default
  std::string host_header;     // host[:port] as the Host header names it
  std::string path_and_query;  // origin-form request target, starts with '/'
  // "scheme://host_header/path?query": what the rules match and what the
  // P2P task id is computed from.
  std::string url;
};

// The absolute-form target of a plain proxy request
// ("http://host[:port]/path?query", RFC 9112 section 3.2.2). InvalidArgument
// for anything else: origin-form ("/path", a client that does not know it
// talks to a proxy), other schemes, userinfo, a fragment, a bad host or port.
Result<ProxyTarget> ParseAbsoluteTarget(std::string_view target);

// The origin-form target ("/path?query") of a request read inside an
// intercepted CONNECT to `authority` (host and port of the CONNECT): an
// https:// ProxyTarget. An absolute https:// target naming the same
// authority is accepted too. InvalidArgument otherwise.
Result<ProxyTarget> ParseInterceptedTarget(std::string_view target, const HostPort& authority);

// The authority-form target of a CONNECT ("host:port", "[v6]:port", RFC 9112
// section 3.2.3). InvalidArgument unless the port is 1..65535.
Result<HostPort> ParseConnectTarget(std::string_view target);

// The facts of a request that decide between P2P and forwarding.
struct RequestFacts {
  bool get = false;   // method GET
  bool body = false;  // the request has a body (Content-Length > 0 or chunked)
  // A Range header the pieces cannot answer: several ranges, another unit,
  // garbage, or with If-Range (the task keeps no validator). One bytes range
  // is served from the pieces.
  bool unservable_range = false;
  bool credentials = false;  // Authorization or Cookie, or a signed URL
};

// kP2P when the request is a GET without a body, without a Range the pieces
// cannot answer and without credentials (a P2P task is keyed by the URL
// alone, so its bytes would reach clients the origin never authorized) of a
// URL a rule matches; kForward otherwise.
Route ChooseRoute(const UrlRules& rules, const ProxyTarget& target, const RequestFacts& facts);

}  // namespace feilong::proxy
