// Fuzzes ParseSchedulerConfig (scheduler/scheduler_config.h): the input is
// the YAML text of a flsched config file.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - errors are InvalidArgument;
//   - an accepted config passes Validate() (the rules in its header).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "scheduler/scheduler_config.h"

using feilong::Result;
using feilong::scheduler::ParseSchedulerConfig;
using feilong::scheduler::SchedulerConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  Result<SchedulerConfig> config = ParseSchedulerConfig(yaml);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().IsInvalidArgument(), config.status().ToString());
    return 0;
  }
  const SchedulerConfig& c = *config;
  FUZZ_CHECK(c.Validate().ok(), c.Validate().ToString());
  FUZZ_CHECK(c.candidate_parent_limit >= 1, c.candidate_parent_limit);
  FUZZ_CHECK(c.max_back_to_source_peers_per_task >= 1, c.max_back_to_source_peers_per_task);
  FUZZ_CHECK(c.schedule_wait.count() > 0 && c.max_schedule_wait >= c.schedule_wait,
             c.schedule_wait.count());
  FUZZ_CHECK(c.seed_trigger_timeout.count() > 0 && c.host_ttl.count() > 0 &&
                 c.tick_interval.count() > 0 && c.finished_peer_ttl.count() >= 0,
             "durations");
  return 0;
}
