// MetricsServer: a small HTTP/1.1 server for Prometheus scrapes.
//
//   GET /metrics  200, Content-Type "text/plain; version=0.0.4; charset=utf-8",
//                 the body is registry.Render()
//   GET /healthz  200, "ok"
//   other paths   404; methods other than GET 405
//
// A TcpServer (common/tcp_server.h) with one thread; each connection is a
// coroutine (keep-alive supported; a connection idle for 30 s is closed).
//
// Thread rule: Start, port and Stop may be called from any thread. The
// Registry must outlive the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"

namespace feilong::metrics {

class MetricsServer {
 public:
  // Listens on `host`:`port` (an IP address or a resolvable name; port 0 picks
  // a free port, see port()) and starts serving. InvalidArgument when the host
  // does not resolve; IOError (e.g. "address already in use") naming the
  // address when it cannot listen.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& host, uint16_t port,
                                                      const Registry& registry);

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // Calls Stop().
  ~MetricsServer();

  // The port actually listened on.
  uint16_t port() const;

  // Closes the listener and every connection and joins the thread.
  // Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::metrics
