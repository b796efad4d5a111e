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
                               {"reason"})) {}

}  // namespace feilong::daemon
