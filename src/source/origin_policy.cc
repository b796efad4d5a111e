#include "source/origin_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>

#include "common/ascii.h"

namespace feilong::source {

namespace {

using Address = internal::IpAddress;

// Folds ::ffff:a.b.c.d into a.b.c.d so that IPv4 entries and defaults see it.
Address FromIn6(const uint8_t* b) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  Address a{.v4 = std::memcmp(b, kMappedPrefix, sizeof(kMappedPrefix)) == 0};
  std::memcpy(a.bytes.data(), a.v4 ? b + 12 : b, a.v4 ? 4 : 16);
  return a;
}

// inet_pton on `text` (IPv6 when it holds a ':'); a "%zone" suffix is dropped
// when `allow_zone`, since the zone picks an interface, not an address.
bool ParseIp(std::string_view text, bool allow_zone, Address& out) {
  if (allow_zone && text.find(':') != std::string_view::npos) {
    text = text.substr(0, text.find('%'));
  }
  bool v6 = text.find(':') != std::string_view::npos;
  uint8_t b[16] = {};
  // A NUL inside would end the text early for inet_pton: "10.0.0.1\0junk".
  if (text.find('\0') != std::string_view::npos ||
      inet_pton(v6 ? AF_INET6 : AF_INET, std::string(text).c_str(), b) != 1) {
    return false;
  }
  out = v6 ? FromIn6(b) : Address{.v4 = true, .bytes = {b[0], b[1], b[2], b[3]}};
  return true;
}

std::string Format(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.v4 ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof(buf));
  return buf;
}

// `a` with every bit after the first `prefix` cleared.
Address Mask(Address a, int prefix) {
  for (int bit = prefix; bit < 128; ++bit) {
    a.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return a;
}

bool IsLoopback(const Address& a) {
  // 0.0.0.0 and :: too: on Linux a connect() to them reaches this host.
  return a.v4 ? a.bytes[0] == 127 || a.bytes == Address{}.bytes
              : Mask(a, 120).bytes == Address{}.bytes && a.bytes[15] <= 1;
}

bool IsLinkLocal(const Address& a) {
  return a.v4 ? (a.bytes[0] == 169 && a.bytes[1] == 254)
              : (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80);
}

// Lowercased, one trailing dot dropped: "Example.COM." and "example.com" are one host.
std::string CanonicalName(std::string_view name) {
  return AsciiLowercase(name.ends_with('.') ? name.substr(0, name.size() - 1) : name);
}

bool IsLocalhost(std::string_view name) {
  return name == "localhost" || (name.size() > 10 && name.ends_with(".localhost"));
}

// Why `name` is not a host name, or "" when it is one.
std::string_view NameProblem(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string_view::npos) {
    return "empty name or label";
  }
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") != std::string::npos) {
    return "not an IP address, a CIDR or a host name";
  }
  std::string_view last = name.substr(name.rfind('.') + 1);  // npos + 1 == 0: no dot
  return last.find_first_not_of("0123456789") == std::string::npos ? "not a valid IPv4 address"
                                                                   : "";
}

// Steps 1-4 of the header, once the matches are known.
Status Decide(std::string_view shown, const std::string* denied_by, bool allowed,
              std::string_view default_deny, bool allow_list_applies) {
  if (denied_by == nullptr && (allowed || (default_deny.empty() && !allow_list_applies))) {
    return Status::Ok();
  }
  std::string why = denied_by != nullptr    ? "denied by '" + *denied_by + "'"
                    : !default_deny.empty() ? std::string(default_deny)
                                            : "not in the allow list";
  return Status::PermissionDenied("origin policy refuses " + std::string(shown) + " (" + why + ")");
}

}  // namespace

Result<OriginPolicy> OriginPolicy::Create(const OriginPolicyConfig& config) {
  OriginPolicy policy;
  policy.deny_link_local_ = config.deny_link_local;
  policy.deny_loopback_ = config.deny_loopback;
  for (auto [list, entries] :
       {std::pair{&config.allow, &policy.allow_}, std::pair{&config.deny, &policy.deny_}}) {
    for (const std::string& text : *list) {
      auto bad = [&](std::string_view why) {
        return Status::InvalidArgument("origin policy: bad entry '" + text +
                                       "': " + std::string(why));
      };
      size_t slash = text.find('/');
      std::string_view ip = std::string_view(text).substr(0, slash);
      Address a;
      if (ParseIp(ip, /*allow_zone=*/false, a)) {
        // "::ffff:10.0.0.0/104" would need its prefix shifted by 96 to be
        // matched as IPv4; asking for "10.0.0.0/8" keeps one spelling.
        if (a.v4 && slash != std::string::npos && ip.find(':') != std::string_view::npos) {
          return bad("write an IPv4-mapped block as IPv4 (a.b.c.d/n)");
        }
        int max = a.v4 ? 32 : 128;
        int prefix = max;
        if (slash != std::string::npos) {
          std::string_view digits = std::string_view(text).substr(slash + 1);
          if (digits.empty() || digits.size() > 3 ||
              digits.find_first_not_of("0123456789") != std::string_view::npos) {
            return bad("prefix length is not a number");
          }
          std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        }
        if (prefix > max) {
          return bad("prefix length over " + std::to_string(max));
        }
        if (Address masked = Mask(a, prefix); masked.bytes != a.bytes) {
          return bad("bits set after the prefix length (did you mean '" + Format(masked) + "/" +
                     std::to_string(prefix) + "'?)");
        }
        entries->blocks.push_back({a, prefix, text});
        continue;
      }
      if (slash != std::string::npos || text.find(':') != std::string::npos) {
        return bad(slash != std::string::npos ? "not an IP address before '/'"
                                              : "not an IPv6 address");
      }
      std::string name = CanonicalName(text);
      bool suffix = name.starts_with("*.");
      name.erase(0, suffix ? 2 : 0);
      if (std::string_view why = NameProblem(name); !why.empty()) {
        return bad(why);
      }
      entries->names.push_back({std::move(name), suffix, text});
    }
  }
  return policy;
}

Status OriginPolicy::CheckParsed(const internal::IpAddress& address, std::string_view shown,
                                 bool as_url_host) const {
  auto find = [&](const std::vector<Block>& blocks) {
    auto it = std::find_if(blocks.begin(), blocks.end(), [&](const Block& b) {
      return b.address.v4 == address.v4 && Mask(address, b.prefix).bytes == b.address.bytes;
    });
    return it == blocks.end() ? nullptr : &it->text;
  };
  std::string_view default_deny = deny_link_local_ && IsLinkLocal(address) ? "link-local"
                                  : deny_loopback_ && IsLoopback(address)  ? "loopback"
                                                                           : "";
  return Decide(shown, find(deny_.blocks), find(allow_.blocks) != nullptr, default_deny,
                !allow_.blocks.empty() || (as_url_host && !allow_.names.empty()));
}

Status OriginPolicy::CheckHost(std::string_view host) const {
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  std::string_view inner = bracketed ? host.substr(1, host.size() - 2) : host;
  Address address;
  if (ParseIp(inner, /*allow_zone=*/true, address) &&
      (!bracketed || inner.find(':') != std::string_view::npos)) {
    return CheckParsed(address, host, /*as_url_host=*/true);
  }
  // What is left must be a name; with a bracket, ':', space or control byte
  // it is malformed, not a name that happens to match no entry.
  if (host.empty() || std::any_of(host.begin(), host.end(), [](char c) {
        return std::string_view("[]:").find(c) != std::string_view::npos ||
               static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
      })) {
    return Status::InvalidArgument("origin policy: bad host '" + std::string(host) + "'");
  }
  std::string name = CanonicalName(host);
  auto find = [&](const std::vector<Name>& names) {
    auto it = std::find_if(names.begin(), names.end(), [&](const Name& n) {
      return n.suffix ? name.size() > n.name.size() + 1 && name.ends_with("." + n.name)
                      : name == n.name;
    });
    return it == names.end() ? nullptr : &it->text;
  };
  return Decide(host, find(deny_.names), find(allow_.names) != nullptr,
                deny_loopback_ && IsLocalhost(name) ? "loopback" : "", !allow_.names.empty());
}

Status OriginPolicy::CheckAddress(const struct sockaddr* address, socklen_t length) const {
  sockaddr_storage copy{};   // aligned, unlike what the caller may pass
  if (address != nullptr) {  // memcpy from null is undefined even for 0 bytes
    std::memcpy(&copy, address, std::min<size_t>(length, sizeof(copy)));
  }
  Address a{.v4 = copy.ss_family == AF_INET};
  if (a.v4 && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(&copy)->sin_addr, 4);
  } else if (copy.ss_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    a = FromIn6(reinterpret_cast<const sockaddr_in6*>(&copy)->sin6_addr.s6_addr);
  } else if (allows_everything()) {
    return Status::Ok();
  } else {
    return Status::InvalidArgument("origin policy: not an IPv4 or IPv6 sockaddr");
  }
  return CheckParsed(a, Format(a), /*as_url_host=*/false);
}

Status OriginPolicy::CheckAddress(std::string_view ip) const {
  Address a;
  if (!ParseIp(ip, /*allow_zone=*/true, a)) {
    return Status::InvalidArgument("origin policy: not an IP address: '" + std::string(ip) + "'");
  }
  return CheckParsed(a, ip, /*as_url_host=*/false);
}

Result<OriginPolicyConfig> ReadOriginPolicy(const ConfigReader& reader,
                                            OriginPolicyConfig defaults) {
  OriginPolicyConfig config = std::move(defaults);
  FL_RETURN_IF_ERROR(reader.Read("allow", config.allow));
  FL_RETURN_IF_ERROR(reader.Read("deny", config.deny));
  FL_RETURN_IF_ERROR(reader.Read("deny_link_local", config.deny_link_local));
  FL_RETURN_IF_ERROR(reader.Read("deny_loopback", config.deny_loopback));
  // Entries are checked one by one so that the error names the list index.
  for (auto [key, list] : {std::pair{"allow", &config.allow}, std::pair{"deny", &config.deny}}) {
    for (size_t i = 0; i < list->size(); ++i) {
      Result<OriginPolicy> one = OriginPolicy::Create({.allow = {(*list)[i]}});
      if (!one.ok()) {
        std::string path = reader.path().empty() ? key : reader.path() + "." + key;
        return Status::InvalidArgument("config key '" + path + "[" + std::to_string(i) +
                                       "]': " + one.status().message());
      }
    }
  }
  return config;
}

}  // namespace feilong::source
