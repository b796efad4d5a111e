#include "daemon/trigger_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/host_port.h"
#include "rpc/tls_config.h"

namespace feilong::daemon {

namespace {

// The canonical text of a numeric address, so "::ffff:10.0.0.1" and
// "10.0.0.1", or two spellings of one IPv6 address, compare equal.
std::optional<std::string> Canonical(const std::string& ip) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  in_addr v4{};
  if (::inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    return std::string(::inet_ntop(AF_INET, &v4, text.data(), text.size()));
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, ip.c_str(), &v6) != 1) {
    return std::nullopt;
  }
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], sizeof(v4));
    return std::string(::inet_ntop(AF_INET, &v4, text.data(), text.size()));
  }
  return std::string(::inet_ntop(AF_INET6, &v6, text.data(), text.size()));
}

}  // namespace

std::optional<std::string> PeerIp(std::string_view peer) {
  std::string_view rest;
  if (peer.starts_with("ipv4:")) {
    rest = peer.substr(5);
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    return Canonical(std::string(rest.substr(0, colon)));
  }
  if (!peer.starts_with("ipv6:")) {
    return std::nullopt;
  }
  std::string text(peer.substr(5));
  for (auto [encoded, plain] : {std::pair{"%5B", "["}, std::pair{"%5D", "]"}}) {
    for (size_t at = text.find(encoded); at != std::string::npos; at = text.find(encoded)) {
      text.replace(at, 3, plain);
    }
  }
  size_t close = text.rfind(']');
  if (text.empty() || text.front() != '[' || close == std::string::npos) {
    return std::nullopt;
  }
  return Canonical(text.substr(1, close - 1));
}

Status TriggerPolicy::Check(std::string_view grpc_peer,
                            const std::vector<std::string>& caller_roles) const {
  if (!seed) {
    return Status::PermissionDenied("TriggerDownload is answered by seed peers only");
  }
  if (by_certificate) {
    if (std::find(caller_roles.begin(), caller_roles.end(), rpc::kRoleScheduler) ==
        caller_roles.end()) {
      return Status::PermissionDenied("TriggerDownload from " + std::string(grpc_peer) +
                                      ", whose certificate has no scheduler role");
    }
    return Status::Ok();
  }
  std::optional<std::string> ip = PeerIp(grpc_peer);
  if (!ip || std::find(scheduler_ips.begin(), scheduler_ips.end(), *ip) == scheduler_ips.end()) {
    return Status::PermissionDenied("TriggerDownload from " + std::string(grpc_peer) +
                                    ", which is no configured scheduler");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ResolveSchedulerIps(const std::vector<std::string>& schedulers) {
  std::vector<std::string> ips;
  for (const std::string& address : schedulers) {
    FL_ASSIGN_OR_RETURN(HostPort parsed, ParseHostPort(address));
    if (auto numeric = Canonical(parsed.host)) {
      ips.push_back(*numeric);
      continue;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int err = ::getaddrinfo(parsed.host.c_str(), nullptr, &hints, &found);
    if (err != 0) {
      spdlog::warn("scheduler_unresolved address={} error=\"{}\"", address, ::gai_strerror(err));
      continue;
    }
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      const void* raw =
          a->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (::inet_ntop(a->ai_family, raw, text.data(), text.size()) != nullptr) {
        if (auto numeric = Canonical(text.data())) {
          ips.push_back(*numeric);
        }
      }
    }
    ::freeaddrinfo(found);
  }
  return ips;
}

}  // namespace feilong::daemon
