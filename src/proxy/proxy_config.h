// ProxyConfig: the `proxy:` section of fld's YAML config. fld serves an
// HTTP proxy (see http_proxy.h) when `enabled` is true.
//
//   proxy:
//     enabled: true
//     listen: 127.0.0.1:65002
//     rules:                          # GETs of matching URLs go P2P
//       - '^https?://downloads\.example\.com/.*\.tar\.gz$'
//     hijack_https:                   # CONNECTs to these hosts are intercepted
//       ca_cert: /etc/feilong/proxy-ca.pem
//       ca_key: /etc/feilong/proxy-ca.key
//       hosts: ['^downloads\.example\.com$']
//     origin_ca_file: /etc/feilong/origin-ca.pem   # extra CAs for https origins
//
// Regexes are ECMAScript (std::regex) and found anywhere in the subject
// (regex_search): anchor them with ^ and $ to match a whole URL or host.
//
// Thread rule: a value; read-only once the daemon started.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace feilong {
class ConfigReader;
}

namespace feilong::proxy {

struct HijackConfig {
  // PEM certificate and private key of the CA that signs the certificates
  // the proxy shows to clients for intercepted hosts. Clients must trust
  // this CA. Required when `hosts` is not empty. Default: none.
  std::string ca_cert;
  std::string ca_key;
  // Regexes matched against the host name of a CONNECT (no port). A match
  // is intercepted; every other CONNECT is a plain tunnel. Default: none.
  std::vector<std::string> hosts;
};

struct ProxyConfig {
  // Serve the HTTP proxy. Default: false.
  bool enabled = false;
  // Address to listen on (host:port; port 0 picks a free one). Default:
  // 127.0.0.1:65002 (loopback only: anyone who reaches it can use the
  // daemon's network position).
  std::string listen = "127.0.0.1:65002";
  // Regexes matched against the absolute URL of a request
  // ("http://host[:port]/path?query", or "https://..." for an intercepted
  // host). A GET without Range, Authorization or Cookie whose URL matches
  // one goes P2P; everything else is forwarded. Default: none.
  std::vector<std::string> rules;
  HijackConfig hijack_https;
  // PEM CA bundle trusted, besides the system store, when the proxy talks
  // TLS to an origin (forwarded requests of intercepted hosts). The P2P
  // download itself uses download.origin.ca_file. Default: none.
  std::string origin_ca_file;
  // Event loop threads. Default: 2.
  uint32_t threads = 2;
  // Deadline of each connect, read and write to an origin, and of a client
  // connection or tunnel with nothing to read or write. Default: 60 s.
  std::chrono::milliseconds io_timeout{60'000};
  // Client connections served at once; more are answered 503 and closed.
  // Default: 1024.
  uint32_t max_connections = 1024;
};

// Reads the `proxy:` map over the defaults in `config`. InvalidArgument
// naming the key for a bad value. Unknown keys are reported by the root
// reader's CheckNoUnknownKeys.
Status ParseProxyConfig(const ConfigReader& proxy, ProxyConfig& config);

// Checks the config when enabled. InvalidArgument naming the key: a regex
// that does not compile, hijack hosts without a CA, a CA certificate or key
// that cannot be read or parsed, a key that does not belong to the
// certificate, an unreadable origin_ca_file, threads or max_connections 0.
Status ValidateProxyConfig(const ProxyConfig& config);

}  // namespace feilong::proxy
