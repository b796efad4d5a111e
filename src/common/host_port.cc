#include "common/host_port.h"

namespace feilong {

Result<HostPort> ParseHostPort(std::string_view address) {
  auto bad = [&] {
    return Status::InvalidArgument("expected host:port, got '" + std::string(address) + "'");
  };
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) {
    return bad();
  }
  std::string_view port = address.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad();
  }
  uint32_t value = 0;
  for (char c : port) {
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) {
    return bad();
  }
  std::string_view host = address.substr(0, colon);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) {
    host = host.substr(1, host.size() - 2);
  }
  // A bracket left inside, or a ':' outside brackets ("::1:80" reads as
  // host "::1" or as an address without a port), is not an address.
  if (host.empty() || host.find_first_of("[]") != std::string_view::npos ||
      (!bracketed && host.find(':') != std::string_view::npos)) {
    return bad();
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

}  // namespace feilong
