// SimWorld: a swarm in one process. The real SchedulerState and one real
// Download per host run on a virtual clock (test::ManualLoop) over a
// simulated network: every host has an uplink and a downlink of fixed
// rate, every hop a fixed latency, the origin an uplink of its own. Bytes
// are not moved, only their timing: a transfer takes the earliest moment
// both the sender's uplink and the receiver's downlink are free and holds
// both for size / min(up, down) (transfers on one link go one after the
// other, which keeps each link busy as fair sharing would, without
// modelling TCP). A run is deterministic for its options: the same seed
// gives the same timings.
//
// Faults are scheduled at exact virtual times (At): kill a host, make it
// serve corrupt pieces, kill the scheduler.
//
// Thread rule: single-threaded; Run drives everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace feilong::daemon {
struct DaemonConfig;
}
namespace feilong::scheduler {
struct SchedulerConfig;
}

namespace feilong::sim {

struct SimOptions {
  uint32_t peers = 16;  // hosts downloading, besides the seed peer
  bool seed_peer = true;
  uint64_t file_bytes = 512ULL << 20;
  double host_mbit = 100;                                  // every host's uplink and downlink
  double origin_mbit = 100;                                // the origin's uplink
  Clock::Duration latency = std::chrono::milliseconds(1);  // one way, any hop
  uint64_t seed = 1;
  // Config changes applied to every daemon and to the scheduler.
  std::function<void(daemon::DaemonConfig&)> tune_daemon;
  std::function<void(scheduler::SchedulerConfig&)> tune_scheduler;
};

struct SimHostResult {
  std::string host_id;
  bool seed = false;
  Status status;
  double done_seconds = 0;  // virtual time the download ended
  uint64_t from_peers = 0;
  uint64_t from_origin = 0;
};

struct SimReport {
  std::vector<SimHostResult> hosts;  // the seed peer first, if any
  bool all_done = false;
  double all_done_seconds = 0;  // the last peer (not the seed) done
  double mean_seconds = 0;      // over peers
  double t_min_seconds = 0;     // the bound (see SimWorld::TMin)
  uint64_t origin_bytes = 0;
  double wall_seconds = 0;
};

class SimWorld {
 public:
  explicit SimWorld(SimOptions options);
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  // Runs `fault` at virtual time `at` after the start.
  void At(Clock::Duration at, std::function<void(SimWorld&)> fault);
  // Host `index` (0 is the seed peer when there is one) stops: its
  // transfers, feeds and streams fail from now on.
  void KillHost(size_t index);
  // Host `index` serves pieces whose bytes do not match their digest.
  void CorruptHost(size_t index);
  void KillScheduler();

  // Every peer starts its download at time 0; runs until all ended or
  // `limit` of virtual time passed.
  SimReport Run(Clock::Duration limit);

  // The lower bound on the time for every peer to hold the file: the
  // origin must send it once, every receiver must take it in, and all
  // receivers together need N x F of upload from the origin and themselves:
  // max(F / u_origin, F / d, N F / (u_origin + N u)).
  double TMin() const;

  // The world's state, shared with its seams (sim_world.cc only).
  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace feilong::sim
