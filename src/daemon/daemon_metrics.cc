#include "daemon/daemon_metrics.h"

namespace feilong::daemon {

DaemonMetrics::DaemonMetrics(metrics::Registry& r)
    : registry(r),
      downloads(r.AddCounter("feilong_daemon_downloads_total", "Downloads that ended, by result.",
                             {"result"})),
      cache_hits(r.AddCounter("feilong_daemon_cache_hits_total",
                              "Downloads served entirely from the local cache.")
                     .Get()),
      download_bytes(r.AddCounter("feilong_daemon_download_bytes_total",
                                  "Bytes downloaded, by source.", {"source"})),
      back_to_source(r.AddCounter("feilong_daemon_back_to_source_total",
                                  "Downloads that fetched from the origin, by reason.",
                                  {"reason"})),
      piece_failures(r.AddCounter("feilong_daemon_piece_failures_total",
                                  "Piece transfers that failed, by source and kind.",
                                  {"source", "kind"})),
      active_downloads(
          r.AddGauge("feilong_daemon_active_downloads", "Downloads in progress.").Get()),
      parent_busy(r.AddCounter("feilong_daemon_parent_busy_total",
                               "Piece requests a parent answered busy, by reason: slots (no free "
                               "upload slot) or piece (that piece is on its way to another child).",
                               {"reason"})),
      grants_refused(r.AddCounter("feilong_daemon_grants_refused_total",
                                  "Requests for a private task refused for want of a valid grant, "
                                  "by where: pieces or sync.",
                                  {"where"})),
      piece_tls_handshake_failures(
          r.AddCounter("feilong_daemon_piece_tls_handshake_failures_total",
                       "TLS handshakes the piece server failed (no certificate, another CA, "
                       "expired, plaintext).")
              .Get()),
      access_checks(r.AddCounter("feilong_daemon_access_checks_total",
                                 "Origin probes of callers asking for a private task, by result: "
                                 "ok or denied.",
                                 {"result"})) {}

}  // namespace feilong::daemon
