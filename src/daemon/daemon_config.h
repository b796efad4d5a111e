// Configuration of the peer daemon (fld), loaded from YAML. Every field has
// its default here; docs/configuration.md shows the YAML form.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/circuit_breaker.h"
#include "common/retry.h"
#include "common/status.h"
#include "mirror/mirror_config.h"
#include "proxy/proxy_config.h"
#include "rpc/tls_config.h"
#include "source/origin_policy.h"

namespace feilong::daemon {

struct DaemonConfig {
  // --- host identity -------------------------------------------------------
  // Stable host id. Default: "<advertise_ip>-<hostname>".
  std::string host_id;
  // Default: gethostname().
  std::string hostname;
  // Address other peers and the scheduler reach this daemon at. Default: 127.0.0.1.
  std::string advertise_ip = "127.0.0.1";
  std::string idc;
  // "country|region|zone"
  std::string location;
  // A seed peer: the scheduler triggers it to fetch tasks from the origin. Default: false.
  bool seed = false;

  // --- listeners -----------------------------------------------------------
  // Root of the piece store and the default socket. Default: /var/lib/feilong.
  std::string data_dir = "/var/lib/feilong";
  // Local API socket for flget. Default: <data_dir>/fld.sock.
  std::string socket_path;
  // Permission bits of the socket, octal in YAML ("0660"): whoever may
  // connect may ask for downloads, read task lists and delete cached tasks;
  // outputs are always written with the caller's own rights. Default: 0660.
  uint32_t socket_mode = 0660;
  // Group (name or number) given the socket; empty: the daemon's group.
  // Default: empty.
  std::string socket_group;
  // Bind address of the peer gRPC service. Port 0 picks a free port. Default: 0.0.0.0:4000.
  std::string peer_listen = "0.0.0.0:4000";
  // Bind address of the HTTP piece server. Default: 0.0.0.0:4005.
  std::string piece_listen = "0.0.0.0:4005";
  // Prometheus metrics; empty disables. Default: 127.0.0.1:4002.
  std::string metrics_listen = "127.0.0.1:4002";
  // tls: mutual TLS for the peer API server and every gRPC client (the
  // schedulers, parents' piece availability) (rpc/tls_config.h). Default:
  // off (plaintext, warned about at start).
  rpc::TlsConfig tls;

  // --- scheduling ----------------------------------------------------------
  // Scheduler addresses (host:port). Tasks are spread over them by
  // rendezvous hashing of the task id. Empty: every download goes to the
  // origin directly. Default: empty.
  std::vector<std::string> schedulers;
  // Deadline for reaching a scheduler. Default: 2 s.
  std::chrono::milliseconds scheduler_connect_timeout{2000};
  // How often host load is announced to the schedulers. Default: 30 s.
  std::chrono::milliseconds announce_host_interval{30000};

  // --- download ------------------------------------------------------------
  // Pieces fetched at once per download. Default: 8.
  uint32_t concurrent_pieces = 8;
  // Pieces fetched at once by all downloads together: with many downloads
  // each runs at most max(1, this / downloads running) of its
  // concurrent_pieces (daemon/download/transfer_budget.h); 0 = no
  // daemon-wide cap. Default: 128.
  uint32_t max_transfers = 128;
  // Pieces fetched at once from the origin per download. Default: 4.
  uint32_t back_to_source_concurrency = 4;
  // Threads for the downloads' work that blocks (opening and committing
  // pieces, whole-file hashing, outputs); piece
  // transfers run on the event loop. Default: 4.
  uint32_t blocking_threads = 4;
  // Threads of the event loop every download's state lives on; 0 = one per
  // core. Default: 0.
  uint32_t loop_threads = 0;
  // A download that received no piece byte for this long asks for other parents,
  // and after `max_reschedules` goes to the origin. Default: 10 s.
  std::chrono::milliseconds p2p_stall_timeout{10000};
  // Default: 3.
  uint32_t max_reschedules = 3;
  // Whole-download deadline when the request sets none. Default: 1 h.
  std::chrono::milliseconds download_timeout{3600 * 1000};
  // Going to the origin is allowed when P2P cannot serve. Default: true.
  bool back_to_source = true;

  // --- resilience (see docs/configuration.md, "Resilience") ---------------
  // Requests in flight to one origin host from all downloads of this
  // daemon together; 0 = no cap. Default: 16.
  uint32_t origin_max_requests_per_host = 16;
  // PEM CA bundle trusted for https origins instead of the system store
  // (e.g. a company CA, or a test origin). Empty: the system store. Default: empty.
  std::string origin_ca_file;
  // download.origin.policy: which origins this daemon may contact (allow and
  // deny lists of addresses, CIDRs and host names; see
  // src/source/origin_policy.h), checked for the URL, every redirect and
  // every address connected to. Default: link-local addresses (cloud
  // metadata) denied; on a seed, loopback denied too, since it fetches URLs
  // that other hosts name (allow it explicitly, e.g. "127.0.0.1", for an
  // origin on the seed's own host).
  source::OriginPolicyConfig origin_policy{.deny_link_local = true};
  // Whether origin_policy.deny_loopback was set by the config (else the
  // seed default applies in FinalizeDaemonConfig).
  bool origin_deny_loopback_set = false;
  // An origin request fails when no byte arrives for this long. Default: 30 s.
  std::chrono::milliseconds origin_stall_timeout{30000};
  // Attempts per origin piece (and per probe), with jittered exponential
  // backoff between them. Default: 5 attempts, 500 ms doubling up to 8 s,
  // jitter 0.2.
  RetryPolicy origin_retry{5, std::chrono::milliseconds(500), std::chrono::seconds(8), 2.0, 0.2};
  // Per origin host. Default: opens after 10 consecutive failures, for 5 s.
  CircuitBreakerConfig origin_breaker{10, std::chrono::seconds(5), 1};
  // A piece fetch from a parent fails when no byte arrives for this long
  // (a paused or overloaded parent). Default: 5 s.
  std::chrono::milliseconds parent_stall_timeout{5000};
  // Connecting to a parent's piece server. Default: 2 s.
  std::chrono::milliseconds parent_connect_timeout{2000};
  // Pieces one download asks one parent for at once, so that its requests
  // spread over all its parents. Default: 4.
  uint32_t parent_max_in_flight = 4;
  // Parents a download wants: with fewer, or when its parents hold nothing
  // it can fetch, it asks the scheduler for more once a second. A dense
  // mesh keeps every host's upload busy. Default: 8.
  uint32_t parent_wanted = 8;
  // After a parent answered busy (no free upload slot), it is not asked
  // again for this long (plus up to as much again at random). Default: 100 ms.
  std::chrono::milliseconds parent_busy_backoff{100};
  // Per parent host, shared by all downloads. Default: opens after 5
  // consecutive failures, for 10 s.
  CircuitBreakerConfig parent_breaker{5, std::chrono::seconds(10), 1};
  // Per scheduler address: a scheduler that refused this many connections
  // in a row is skipped (new downloads go to the next one, or to the origin,
  // without waiting) until open_duration passes. Default: 2, 5 s.
  CircuitBreakerConfig scheduler_breaker{2, std::chrono::seconds(5), 1};

  // --- upload --------------------------------------------------------------
  // Upload capacity announced to the scheduler, bytes/s (0 = unknown). Default: 0.
  uint64_t upload_capacity_bps = 0;
  // Concurrent piece uploads announced as the limit. Default: 200 (2000 for seeds).
  uint32_t max_concurrent_uploads = 0;
  // Piece bodies the piece server sends at once; a request beyond them
  // waits in the upload queue (below) or is answered busy. Fewer uploads at
  // once finish each piece sooner, so children can pass it on sooner: at
  // N=16, 25 Mbit/s, 4 slots took the swarm from 1.38-1.58 x T_min to
  // 1.26-1.33 (docs/benchmarks.md). 0 takes the default. Default: 4 (32 for
  // seeds, which serve many tasks and, while downloading, mostly first
  // copies).
  uint32_t upload_slots = 0;
  // A piece request finding every upload slot taken waits up to
  // `upload_queue_wait` for one, among at most `upload_queue_length` such
  // requests (0 takes `upload_slots`); beyond that it is answered busy. A
  // slot that frees up then goes straight to the next request instead of
  // idling until a child asks again. 0 s answers busy at once. Keep it below
  // the children's download.parent.stall_timeout. Default: 2 s, 0.
  std::chrono::milliseconds upload_queue_wait{2000};
  uint32_t upload_queue_length = 0;
  // Children following a task hear about newly stored pieces at most once
  // per interval (the first piece after a quiet interval at once); fewer,
  // larger messages cost both daemons less CPU. 0 sends each piece at once.
  // Default: 250 ms.
  std::chrono::milliseconds availability_interval{250};
  // TCP congestion control of the piece server's connections, the senders of
  // every piece (common/tcp_congestion.h says why it matters); "" keeps the
  // host's. If this process may not use it, fld warns and keeps the host's.
  // Default: "cubic".
  std::string upload_tcp_congestion = "cubic";

  // --- storage -------------------------------------------------------------
  // Default: false (crash-safe against process kills, not power loss).
  bool fsync_pieces = false;
  // Default: 6 h.
  std::chrono::milliseconds task_ttl{6 * 3600 * 1000};
  // Default: 0.80 / 0.60.
  double disk_high_watermark = 0.80;
  double disk_low_watermark = 0.60;
  // Default: 15 min.
  std::chrono::milliseconds gc_interval{15 * 60 * 1000};

  std::string log_level = "info";

  // --- registry mirror (the `mirror:` section; see mirror/mirror_config.h) --
  mirror::MirrorConfig mirror;

  // --- HTTP proxy (the `proxy:` section; see proxy/proxy_config.h) --------
  proxy::ProxyConfig proxy;
};

// Reads a YAML file over the defaults. InvalidArgument naming the key for a
// bad value or an unknown key; NotFound / IOError naming the file.
Result<DaemonConfig> LoadDaemonConfig(const std::string& path);
Result<DaemonConfig> ParseDaemonConfig(std::string_view yaml);

// Fills derived defaults (socket path, host id, hostname) and checks ranges.
Status FinalizeDaemonConfig(DaemonConfig& config);

}  // namespace feilong::daemon
