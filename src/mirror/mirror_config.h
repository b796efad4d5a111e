// MirrorConfig: the `mirror:` section of fld's YAML config. fld serves a
// registry mirror (see registry_mirror.h) when `enabled` is true.
//
//   mirror:
//     enabled: true
//     listen: 127.0.0.1:65001
//     registries:                       # registry host (as clients name it) -> base URL
//       "registry.example:5000": http://127.0.0.1:5000
//       docker.io: https://registry-1.docker.io
//     default_registry: docker.io       # when a request names none
//
// `registries` is a map (not a list of {host, url}) because a registry host
// is a natural key and the config reader reads maps key by key.
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

namespace feilong::mirror {

// One upstream registry.
struct Upstream {
  // The registry's name as clients use it in image references and in
  // containerd's `ns=` parameter, e.g. "docker.io", "127.0.0.1:5000".
  std::string host;
  // Base URL requests are sent to: http:// or https://, no path, query or
  // userinfo, e.g. "https://registry-1.docker.io".
  std::string url;
  // Filled by ValidateMirrorConfig from `url`.
  bool tls = false;
  std::string connect_host;   // host name or address to connect to
  uint16_t connect_port = 0;  // 80 / 443 unless the URL names one
  std::string host_header;    // value of the Host header sent upstream
};

struct MirrorConfig {
  // Serve the registry mirror. Default: false.
  bool enabled = false;
  // Address to listen on (host:port; port 0 picks a free one). Default:
  // 127.0.0.1:65001 (loopback only: the mirror forwards clients' credentials).
  std::string listen = "127.0.0.1:65001";
  // Upstream registries, in config order. Default: none.
  std::vector<Upstream> registries;
  // Host of the registry used when a request names none (no `ns=` query
  // parameter, no X-Feilong-Registry header). Default: the first registry.
  std::string default_registry;
  // Before a blob is served from P2P or the cache, ask the registry (HEAD of
  // the blob with the client's credentials) whether it would serve it to
  // this client. Default: true.
  bool verify_blob_access = true;
  // Event loop threads. Default: 2.
  uint32_t threads = 2;
  // Deadline of each connect, read and write to an upstream registry, and
  // of a client connection with nothing to read or write. Default: 60 s.
  std::chrono::milliseconds io_timeout{60'000};
};

// Reads the `mirror:` map over the defaults in `config`. InvalidArgument
// naming the key for a bad value. Unknown keys are reported by the root
// reader's CheckNoUnknownKeys.
Status ParseMirrorConfig(const ConfigReader& mirror, MirrorConfig& config);

// Checks the config and fills each Upstream's derived fields; defaults
// `default_registry`. InvalidArgument naming the key: no registry while
// enabled, a URL that is not http(s)://host[:port], a duplicate host, a
// default that names no registry, threads 0.
Status ValidateMirrorConfig(MirrorConfig& config);

}  // namespace feilong::mirror
