#include "proxy/proxy_target.h"

#include "proxy/url_rules.h"
#include "source/url.h"

namespace feilong::proxy {

namespace {

std::string HostHeader(const std::string& host, uint16_t port, bool default_port) {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!default_port) {
    out += ":" + std::to_string(port);
  }
  return out;
}

void FillUrl(ProxyTarget& t) { t.url = t.scheme + "://" + t.host_header + t.path_and_query; }

}  // namespace

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kP2P:
      return "p2p";
    case Route::kForward:
      return "forward";
    case Route::kTunnel:
      return "tunnel";
    case Route::kHijack:
      return "hijack";
  }
  return "unknown";
}

Result<ProxyTarget> ParseAbsoluteTarget(std::string_view target) {
  if (target.empty() || target.front() == '/') {
    return Status::InvalidArgument("a proxy request needs an absolute http:// URL");
  }
  FL_ASSIGN_OR_RETURN(source::ParsedUrl parsed, source::ParseUrl(target));
  if (parsed.scheme != "http") {
    return Status::InvalidArgument("the proxy takes http:// URLs (use CONNECT for https), got " +
                                   parsed.scheme + "://");
  }
  if (!parsed.userinfo.empty()) {
    return Status::InvalidArgument("credentials in a proxy URL are not supported");
  }
  if (parsed.fragment) {
    return Status::InvalidArgument("a request URL has no fragment");
  }
  ProxyTarget t;
  t.scheme = parsed.scheme;
  t.host = parsed.host;
  if (t.host.size() > 2 && t.host.front() == '[') {
    t.host = t.host.substr(1, t.host.size() - 2);
  }
  t.port = parsed.port.value_or(80);
  t.host_header = HostHeader(t.host, t.port, !parsed.port || *parsed.port == 80);
  t.path_and_query = parsed.path.empty() ? "/" : parsed.path;
  if (parsed.query) {
    t.path_and_query += "?" + *parsed.query;
  }
  FillUrl(t);
  return t;
}

Result<ProxyTarget> ParseInterceptedTarget(std::string_view target, const HostPort& authority) {
  ProxyTarget t;
  t.scheme = "https";
  t.host = authority.host;
  t.port = authority.port;
  t.host_header = HostHeader(t.host, t.port, t.port == 443);
  if (!target.empty() && target.front() == '/') {
    for (char c : target) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') {
        return Status::InvalidArgument("bad request target");
      }
    }
    t.path_and_query = std::string(target);
    FillUrl(t);
    return t;
  }
  FL_ASSIGN_OR_RETURN(source::ParsedUrl parsed, source::ParseUrl(target));
  std::string host = parsed.host;
  if (host.size() > 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  if (parsed.scheme != "https" || host != authority.host ||
      parsed.port.value_or(443) != authority.port || !parsed.userinfo.empty() || parsed.fragment) {
    return Status::InvalidArgument("the request names another origin than its CONNECT");
  }
  t.path_and_query = parsed.path.empty() ? "/" : parsed.path;
  if (parsed.query) {
    t.path_and_query += "?" + *parsed.query;
  }
  FillUrl(t);
  return t;
}

Result<HostPort> ParseConnectTarget(std::string_view target) {
  Result<HostPort> parsed = ParseHostPort(target);
  if (!parsed.ok() || parsed->port == 0) {
    return Status::InvalidArgument("CONNECT needs host:port");
  }
  return parsed;
}

Route ChooseRoute(const UrlRules& rules, const ProxyTarget& target, const RequestFacts& facts) {
  if (facts.get && !facts.body && !facts.unservable_range && !facts.credentials &&
      rules.Matches(target.url)) {
    return Route::kP2P;
  }
  return Route::kForward;
}

}  // namespace feilong::proxy
