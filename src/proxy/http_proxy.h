// HttpProxy: the HTTP/1.1 forward proxy fld serves (docs/proxy.md). Clients
// use it as their http_proxy / https_proxy.
//
//   GET http://host/path   whose URL matches a rule of `proxy.rules`, with
//        no Range, Authorization or Cookie: a P2P download through the
//        daemon (task id from the URL, as for flget); the body streams to
//        the client from the piece store as pieces arrive, and its last
//        bytes are held back until the download finished well.
//   any other absolute-form request (no body): forwarded to the origin and
//        relayed back streamed (mirror/forwarder.h); hop-by-hop headers
//        (Connection, Proxy-*, Keep-Alive, TE, Trailer, Upgrade, ...) are
//        dropped both ways.
//   CONNECT host:port   a TCP tunnel (tunnel.h); or, when `host` matches
//        `proxy.hijack_https.hosts`, TLS ends at the proxy with a
//        certificate for the host signed by the configured CA
//        (cert_authority.h), and each request inside is handled as above for
//        https://host:port/... (forwarded requests go to the origin over TLS,
//        its certificate verified).
//   malformed requests, origin-form targets, unknown methods: 400 / 405;
//   requests with a body: 501 (tunnel them with CONNECT instead).
// Each request logs one debug line `proxy_request method= url= route=
// status= bytes=` (the URL without query string; no header is logged).
//
// Concurrency: as the registry mirror: one Boost.Asio io_context run by
// `threads` std::jthreads; each client connection (and each tunnel) is one
// C++20 coroutine on its own strand; P2P bodies are read with pread(2) from
// the piece store as the download's progress wakes the coroutine
// (mirror/piece_stream.h).
//
// Thread rule: all methods are thread-safe. Stop() (also run by the
// destructor) is idempotent; it closes every connection and joins the
// threads. REQUIRES: `fetcher` and `store` outlive the proxy.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "proxy/proxy_config.h"
#include "proxy/url_fetcher.h"

namespace feilong::storage {
class PieceStore;
}
namespace feilong::metrics {
class Registry;
}

namespace feilong::proxy {

struct ProxyStats {
  uint64_t p2p = 0;           // requests served P2P
  uint64_t forwarded = 0;     // requests forwarded to the origin
  uint64_t tunnels = 0;       // CONNECT tunnels opened
  uint64_t intercepted = 0;   // CONNECTs intercepted (hijack)
  uint64_t bad_requests = 0;  // answered 4xx/5xx by the proxy itself before routing
  uint64_t p2p_bytes = 0;     // body bytes of P2P requests sent
};

class HttpProxy {
 public:
  // Binds `config.listen` and starts serving. REQUIRES:
  // ValidateProxyConfig(config) succeeded. InvalidArgument for a bad listen
  // address or config; IOError naming the address when it cannot bind.
  // Counters go to `metrics` when given (it must outlive the proxy):
  //   feilong_proxy_requests_total{route="p2p"|"forward"|"tunnel"|"hijack"|"rejected"}
  //   feilong_proxy_p2p_bytes_total
  static Result<std::unique_ptr<HttpProxy>> Start(const ProxyConfig& config, UrlFetcher& fetcher,
                                                  storage::PieceStore& store,
                                                  metrics::Registry* metrics = nullptr);
  ~HttpProxy();
  HttpProxy(const HttpProxy&) = delete;
  HttpProxy& operator=(const HttpProxy&) = delete;

  uint16_t port() const;
  ProxyStats stats() const;
  void Stop();

 private:
  struct Impl;
  explicit HttpProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::proxy
