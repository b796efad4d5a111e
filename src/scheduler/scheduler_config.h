// SchedulerConfig: every setting of flsched, with its unit and default.
//
// Loaded from a YAML file whose top level is a map of these keys (all
// optional; an absent key keeps the default):
//
//   listen: "0.0.0.0:8002"
//   metrics_listen: "127.0.0.1:8003"
//   log_level: info
//   candidate_parent_limit: 3
//   max_back_to_source_peers_per_task: 3
//   schedule_wait: 2s
//   max_schedule_wait: 30s
//   seed_trigger_timeout: 5s
//   host_ttl: 120s
//   finished_peer_ttl: 1h
//   tick_interval: 100ms
//   tls: {enabled: false, ca_file: "", cert_file: "", key_file: "", reload_interval: 60s}
//   grants: {key_file: "", ttl: 10m}
//
// Durations need a unit ("250ms", "2s", "1m"). Unknown keys and bad values
// are InvalidArgument errors naming the key.
//
// Thread rule: a plain value; copies are independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "rpc/tls_config.h"

namespace feilong::scheduler {

struct SchedulerConfig {
  // gRPC listen address "host:port"; port 0 picks a free port.
  std::string listen = "0.0.0.0:8002";
  // Mutual TLS for the gRPC server and the seed-trigger client
  // (rpc/tls_config.h). Default: off (plaintext, warned about at start).
  rpc::TlsConfig tls;
  // Prometheus metrics endpoint "host:port"; empty turns it off.
  std::string metrics_listen = "127.0.0.1:8003";
  // Log level: trace, debug, info, warn, error or off.
  std::string log_level = "info";
  // Most parents offered in one decision. >= 1.
  uint32_t candidate_parent_limit = 3;
  // Most peers of one task fetching from the origin at the same time, seed
  // peers included (seed peers are never refused, but they count). >= 1.
  uint32_t max_back_to_source_peers_per_task = 3;
  // How long a peer with no candidate parent waits (while a parent may still
  // appear) before it is told to go back to source. > 0.
  std::chrono::milliseconds schedule_wait{2000};
  // When the back-to-source cap is full, how long a peer keeps waiting for a
  // parent (from the start of its wait) before it is sent back to source
  // anyway with reason CAP_REACHED. >= schedule_wait.
  std::chrono::milliseconds max_schedule_wait{30000};
  // Deadline of a TriggerDownload call to a seed peer, and how long an
  // accepted trigger may go without the seed registering for the task. > 0.
  std::chrono::milliseconds seed_trigger_timeout{5000};
  // A host not announced (AnnounceHost or Register) for this long and with
  // no open peer stream is forgotten. > 0.
  std::chrono::milliseconds host_ttl{120000};
  // How long a peer that finished its download (DownloadFinished) and then
  // closed its stream is still offered as a parent, while its host is known
  // (LeaveHost and host expiry remove it sooner). 0 = removed with its stream.
  std::chrono::milliseconds finished_peer_ttl{3600 * 1000};
  // Period of the thread that re-evaluates waiting peers and expires hosts. > 0.
  std::chrono::milliseconds tick_interval{100};
  // Grants for private tasks (access/grant.h). `key_file`: the Ed25519 key
  // that signs them, created there when missing; empty = a new key at every
  // start, so peers holding private tasks cannot serve them to peers of a
  // restarted scheduler until they download them again. `ttl`: a grant's
  // lifetime; running peers get a fresh one at half of it. >= 1 min.
  struct Grants {
    std::string key_file;
    std::chrono::milliseconds ttl{10 * 60 * 1000};
  } grants;

  // InvalidArgument naming the first key whose value breaks a rule above.
  Status Validate() const;
};

// Parses YAML text (see the file comment) over the defaults and validates.
Result<SchedulerConfig> ParseSchedulerConfig(std::string_view yaml);
// As ParseSchedulerConfig for a file; NotFound / IOError when it cannot be read.
Result<SchedulerConfig> LoadSchedulerConfig(const std::string& path);

}  // namespace feilong::scheduler
