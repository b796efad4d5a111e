// OriginPolicy: which origins a peer may download from on behalf of others.
//
// A seed peer fetches whatever URL a client names, so without a policy it is
// a server-side request forgery tool: it would read cloud metadata
// (169.254.169.254) or its own loopback services for anyone who asks. The
// policy is checked twice: CheckHost on the URL's host as written, and
// CheckAddress on every address the HTTP client connects to, including after
// redirects and DNS answers. The address check is the one that cannot be
// fooled (by a DNS name pointing at 127.0.0.1, or by "127.1", which
// getaddrinfo accepts and inet_pton does not); the host check lets name
// entries work and fails early.
//
// Entries (in `allow` and `deny`):
//   "10.1.2.3", "::1"           one address
//   "10.0.0.0/8", "fd00::/8"    a CIDR block; bits set after the prefix
//                               ("10.1.2.3/8") are an error, not masked: such
//                               an entry is usually a typo, and masking would
//                               silently widen an allow list
//   "registry.example.com"      one host name; case-insensitive, a trailing
//                               dot ignored
//   "*.example.com"             any name ending in ".example.com", not the
//                               bare "example.com"
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as IPv4, as
// addresses and as single-address entries, so an IPv6 block such as "::/0"
// does not cover them; a mapped block ("::ffff:10.0.0.0/104") is an error:
// write it as IPv4. A name entry whose last label is all digits
// ("10.0.0.256") is an error: it is a mistyped address, not a host name.
//
// Precedence (the contract; first matching step decides):
//   1. an explicit `deny` entry matches             -> refused
//   2. an explicit `allow` entry matches            -> allowed (so
//      `allow: [127.0.0.1]` re-opens loopback even with deny_loopback)
//   3. a default deny (deny_link_local / deny_loopback) matches -> refused
//   4. `allow` is non-empty and nothing in it matched -> refused; else allowed
// For an address only IP/CIDR entries match. For a host name only name
// entries match, and step 4 refuses a name only when `allow` holds at least
// one name entry; "localhost" and names ending in ".localhost" are loopback
// in step 3. Step 4 for an address counts the allow list's IP/CIDR entries
// only (with a names-only allow list the names decide, checked on the URL
// and on every redirect's Location), except for an address written as the
// URL's host (CheckHost), which is refused unless an IP/CIDR entry allows
// it when the allow list has any entry.
//
// Loopback also covers the unspecified addresses 0.0.0.0 and ::, because on
// Linux a connect() to them reaches the local host. Other encodings of IPv4
// in IPv6 (NAT64 64:ff9b::/96, 6to4 2002::/16) are not unwrapped: deny them
// explicitly where such gateways exist.
//
// Refusals are PermissionDenied:
//   "origin policy refuses <host or ip> (denied by '10.0.0.0/8')"
//   ... (link-local) | (loopback) | (not in the allow list)
//
// Thread rule: an OriginPolicy is immutable after Create; every method is
// const and safe from any thread, and copies are independent.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace feilong::source {

namespace internal {
// An address as the policy compares it: IPv4 (also IPv4-mapped IPv6) in the
// first 4 bytes.
struct IpAddress {
  bool v4 = false;
  std::array<uint8_t, 16> bytes{};
};
}  // namespace internal

struct OriginPolicyConfig {
  // Entries that, when one matches, allow an origin (step 2) and, when none
  // matches, refuse it (step 4). Default: empty (every origin not denied).
  std::vector<std::string> allow;
  // Entries that refuse an origin before anything else (step 1). Default: empty.
  std::vector<std::string> deny;
  // Refuse 169.254.0.0/16 and fe80::/10 (cloud metadata lives there). Default: false.
  bool deny_link_local = false;
  // Refuse 127.0.0.0/8, ::1, 0.0.0.0, ::, "localhost" and "*.localhost". Default: false.
  bool deny_loopback = false;
};

class OriginPolicy {
 public:
  // Allows everything.
  OriginPolicy() = default;

  // Parses the entries. InvalidArgument naming the first bad entry, e.g.
  // "origin policy: bad entry '10.0.0.0/33': prefix length over 32".
  static Result<OriginPolicy> Create(const OriginPolicyConfig& config);

  // Checks a URL's host as written: a name, an IPv4 literal, or an IPv6
  // literal with or without brackets (a "%zone" suffix is ignored). OK or
  // PermissionDenied; InvalidArgument for an empty host, a bracketed host
  // that is not an IPv6 address, or a name holding ':', a space or a
  // control byte.
  Status CheckHost(std::string_view host) const;

  // Checks an address about to be connected to (AF_INET or AF_INET6; the
  // port is ignored). OK or PermissionDenied; InvalidArgument for a null
  // address, another family, or one shorter than its family's sockaddr,
  // unless allows_everything().
  Status CheckAddress(const struct sockaddr* address, socklen_t length) const;
  // As above for a textual address ("10.0.0.1", "::1"; no brackets), for
  // tests and logs. InvalidArgument when `ip` is not an address.
  Status CheckAddress(std::string_view ip) const;

  // True when no check can refuse anything (no entries, no default denies).
  bool allows_everything() const {
    return allow_.blocks.empty() && allow_.names.empty() && deny_.blocks.empty() &&
           deny_.names.empty() && !deny_link_local_ && !deny_loopback_;
  }

 private:
  struct Block {
    internal::IpAddress address;  // host bits are zero
    int prefix = 0;
    std::string text;  // the entry as written, for messages
  };
  struct Name {
    std::string name;  // lowercased, no trailing dot, without the "*."
    bool suffix = false;
    std::string text;
  };
  struct Entries {
    std::vector<Block> blocks;
    std::vector<Name> names;
  };
  // `as_url_host`: an address written in a URL, where name entries of the
  // allow list count in step 4 too.
  Status CheckParsed(const internal::IpAddress& address, std::string_view shown,
                     bool as_url_host) const;

  Entries allow_;
  Entries deny_;
  bool deny_link_local_ = false;
  bool deny_loopback_ = false;
};

// Reads the policy from the map `reader`: keys allow and deny (lists of
// entries), deny_link_local and deny_loopback (bools). Absent keys keep
// `defaults`. InvalidArgument naming the dotted key for a wrong type or a bad
// entry ("config key 'origin_policy.deny[1]': origin policy: bad entry ...").
// Other keys are left for the caller's CheckNoUnknownKeys.
Result<OriginPolicyConfig> ReadOriginPolicy(const ConfigReader& reader,
                                            OriginPolicyConfig defaults);

}  // namespace feilong::source
