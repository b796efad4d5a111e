// The daemon's metrics, registered once in one registry and updated on the
// hot path through the references held here.
#pragma once

#include "common/metrics.h"

namespace feilong::daemon {

struct DaemonMetrics {
  explicit DaemonMetrics(metrics::Registry& registry);

  metrics::Registry& registry;
  // Downloads that ended, by result: "ok", "error", "cancelled".
  metrics::Family<metrics::Counter>& downloads;
  // Downloads served entirely from the local cache.
  metrics::Counter& cache_hits;
  // Bytes downloaded, by source: "peer", "origin".
  metrics::Family<metrics::Counter>& download_bytes;
  // Downloads that went (partly) to the origin, by reason.
  metrics::Family<metrics::Counter>& back_to_source;
  // Piece transfers that failed, by source and kind ("unavailable", "timeout", "corruption").
  metrics::Family<metrics::Counter>& piece_failures;
  metrics::Gauge& active_downloads;
  metrics::Family<metrics::Counter>& parent_busy;
  // Requests for a private task refused for want of a valid grant, by where:
  // "pieces" (piece server, 403) or "sync" (SyncPieces).
  metrics::Family<metrics::Counter>& grants_refused;
  // TLS handshakes the piece server failed (no certificate, another CA, ...).
  metrics::Counter& piece_tls_handshake_failures;
  // Origin probes of callers asking for a private task, by result: "ok" or
  // "denied" (any error).
  metrics::Family<metrics::Counter>& access_checks;
};

}  // namespace feilong::daemon
