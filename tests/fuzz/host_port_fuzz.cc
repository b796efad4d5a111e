// Fuzzes ParseHostPort (common/host_port.h), which reads every listen and
// peer address of the configuration and the command line.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - a parsed host is non-empty and carries no brackets;
//   - formatting the result back ("host:port", "[v6]:port") and parsing it
//     again gives the same host and port (round trip).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/host_port.h"
#include "fuzz/fuzz_check.h"

using feilong::HostPort;
using feilong::ParseHostPort;
using feilong::Result;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view address(reinterpret_cast<const char*>(data), size);
  Result<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().IsInvalidArgument(), parsed.status().ToString());
    return 0;
  }
  const HostPort& hp = *parsed;
  FUZZ_CHECK(!hp.host.empty(), "address: " << address);
  FUZZ_CHECK(hp.host.find_first_of("[]") == std::string::npos,
             "host keeps a bracket: '" << hp.host << "' from '" << address << "'");

  std::string formatted = hp.host.find(':') != std::string::npos
                              ? "[" + hp.host + "]:" + std::to_string(hp.port)
                              : hp.host + ":" + std::to_string(hp.port);
  Result<HostPort> again = ParseHostPort(formatted);
  FUZZ_CHECK(again.ok() && again->host == hp.host && again->port == hp.port,
             "round trip: '" << address << "' -> '" << formatted << "'");
  return 0;
}
