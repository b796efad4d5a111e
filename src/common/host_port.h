// "host:port" listen and peer addresses, parsed once for every component.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace feilong {

struct HostPort {
  std::string host;  // an IPv6 literal without its brackets
  uint16_t port = 0;
};

// Parses "host:port" or "[v6]:port": a non-empty host and a decimal port in
// [0, 65535]. The host holds no '[' or ']', and a ':' only inside brackets
// (an IPv6 address needs them). InvalidArgument "expected host:port, got
// '<address>'" otherwise.
Result<HostPort> ParseHostPort(std::string_view address);

}  // namespace feilong
