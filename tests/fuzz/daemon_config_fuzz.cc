// Fuzzes ParseDaemonConfig (daemon/daemon_config.h): the input is the YAML
// text of an fld config file.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - errors are InvalidArgument;
//   - a parsed config that FinalizeDaemonConfig accepts (as fld does after
//     loading) satisfies the documented ranges and has its derived
//     defaults filled in; Finalize errors are InvalidArgument too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/daemon_config.h"
#include "fuzz/fuzz_check.h"

using feilong::Result;
using feilong::daemon::DaemonConfig;
using feilong::daemon::ParseDaemonConfig;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  Result<DaemonConfig> config = ParseDaemonConfig(yaml);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().IsInvalidArgument(), config.status().ToString());
    return 0;
  }
  DaemonConfig c = *config;
  feilong::Status finalized = feilong::daemon::FinalizeDaemonConfig(c);
  if (!finalized.ok()) {
    FUZZ_CHECK(finalized.IsInvalidArgument(), finalized.ToString());
    return 0;
  }
  FUZZ_CHECK(c.concurrent_pieces >= 1 && c.concurrent_pieces <= 256, c.concurrent_pieces);
  FUZZ_CHECK(c.back_to_source_concurrency >= 1 && c.back_to_source_concurrency <= 64,
             c.back_to_source_concurrency);
  FUZZ_CHECK(c.blocking_threads >= 1 && c.blocking_threads <= 256, c.blocking_threads);
  FUZZ_CHECK(c.disk_high_watermark >= 0.01 && c.disk_high_watermark <= 1.0, c.disk_high_watermark);
  FUZZ_CHECK(c.disk_low_watermark >= 0.0 && c.disk_low_watermark <= c.disk_high_watermark,
             c.disk_low_watermark);
  FUZZ_CHECK(!c.host_id.empty() && !c.hostname.empty() && !c.socket_path.empty(),
             "defaults not filled in");
  return 0;
}
