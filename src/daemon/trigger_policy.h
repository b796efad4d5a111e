// TriggerPolicy: who may make this daemon fetch a URL from its origin over
// the peer API (TriggerDownload). Only a seed peer answers, and only to a
// scheduler it is configured with: otherwise any host could make any daemon
// fetch any URL and read the bytes back from its piece server (server-side
// request forgery).
//
// The scheduler is recognised by the IP address its call comes from, which
// must be one of the addresses its configured names resolve to at start.
// An attacker who can send from a scheduler's address (same host, spoofing
// on the path) passes this check; mutual TLS is what closes that (see
// docs/security.md).
//
// Thread rule: an immutable value; Check is safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace feilong::daemon {

struct TriggerPolicy {
  bool seed = false;
  // Numeric IP addresses of the configured schedulers.
  std::vector<std::string> scheduler_ips;

  // OK, or PermissionDenied saying why (not a seed; a caller that is no
  // configured scheduler, named by its address).
  Status Check(std::string_view grpc_peer) const;
};

// The IP address in a gRPC peer string ("ipv4:10.0.0.1:4000",
// "ipv6:[::1]:4000", brackets possibly percent-encoded); nullopt for any
// other form (a unix socket).
std::optional<std::string> PeerIp(std::string_view grpc_peer);

// The numeric addresses of `schedulers` ("host:port" each), names resolved
// with getaddrinfo. InvalidArgument for a malformed address; a name that
// does not resolve is skipped with a warning (that scheduler cannot
// trigger until the daemon restarts).
Result<std::vector<std::string>> ResolveSchedulerIps(const std::vector<std::string>& schedulers);

}  // namespace feilong::daemon
