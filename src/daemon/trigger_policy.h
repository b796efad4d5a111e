// TriggerPolicy: who may make this daemon fetch a URL from its origin over
// the peer API (TriggerDownload). Only a seed peer answers, and only to a
// scheduler it is configured with: otherwise any host could make any daemon
// fetch any URL and read the bytes back from its piece server (server-side
// request forgery).
//
// With mutual TLS, the scheduler is recognised by its certificate, which
// must carry the scheduler role (rpc/tls_config.h); its address does not
// matter (NAT, a Service, a changed address are fine). Without TLS, by the
// IP address its call comes from, which must be one of the addresses its
// configured names resolve to at start: an attacker who can send from a
// scheduler's address (same host, spoofing on the path) passes that check.
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
  // Mutual TLS is on: callers are judged by the roles in their certificate.
  bool by_certificate = false;
  // Numeric IP addresses of the configured schedulers (without TLS).
  std::vector<std::string> scheduler_ips;

  // OK, or PermissionDenied saying why (not a seed; a caller that is no
  // configured scheduler, named by its address; no scheduler role).
  // `caller_roles`: the roles in the caller's certificate.
  Status Check(std::string_view grpc_peer, const std::vector<std::string>& caller_roles) const;
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
