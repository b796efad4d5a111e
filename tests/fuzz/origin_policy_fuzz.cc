// Fuzzes OriginPolicy (source/origin_policy.h): entries come from a config
// file, hosts from client requests, addresses from DNS.
//
// Input: lines, each starting with a tag: 'A' an allow entry, 'D' a deny
// entry, 'L' sets deny_link_local, 'O' sets deny_loopback, 'H' a host to
// check, 'I' an address to check. Other lines are ignored.
//
// Invariants checked besides "no crash, no sanitizer report":
//   - Create fails only with InvalidArgument naming one of the entries;
//   - checks return OK, PermissionDenied or InvalidArgument; a
//     default-constructed policy refuses nothing;
//   - an address that a deny entry matches is never allowed. Matching is
//     decided here independently (inet_pton and a bit compare), for the
//     fuzzed addresses, for each deny block's own address, and for the
//     fuzzed address moved into each deny block; a deny name is refused as
//     a host, and "x.<suffix>" for a "*.<suffix>" entry;
//   - the textual and sockaddr forms of an address get the same answer, and
//     an IP literal gets the same answer from CheckHost and CheckAddress.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "source/origin_policy.h"

using feilong::Result;
using feilong::Status;
using feilong::StatusCode;
using feilong::source::OriginPolicy;
using feilong::source::OriginPolicyConfig;

namespace {

constexpr size_t kMaxLines = 64;

struct Ip {
  bool v4 = false;
  uint8_t b[16] = {};
};

bool ParseIp(const std::string& text, Ip& out) {
  out = Ip{};
  if (text.find('\0') != std::string::npos) {
    return false;
  }
  if (text.find(':') == std::string::npos) {
    out.v4 = true;
    return inet_pton(AF_INET, text.c_str(), out.b) == 1;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.b) != 1) {
    return false;
  }
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.b, kMapped, 12) == 0) {
    out.v4 = true;
    std::memmove(out.b, out.b + 12, 4);
    std::memset(out.b + 4, 0, 12);
  }
  return true;
}

struct Block {
  Ip ip;
  int prefix = 0;
};

// A deny entry of an accepted policy as an address block, or false for a name.
bool ParseBlock(const std::string& entry, Block& out) {
  size_t slash = entry.find('/');
  std::string ip = entry.substr(0, slash);
  if (!ParseIp(ip, out.ip)) {
    return false;
  }
  bool written_v6 = ip.find(':') != std::string::npos;
  out.prefix = written_v6 ? 128 : 32;
  if (slash != std::string::npos) {
    const char* end = entry.data() + entry.size();
    std::from_chars(entry.data() + slash + 1, end, out.prefix);
  }
  if (written_v6 && out.ip.v4) {
    out.prefix -= 96;
  }
  return true;
}

bool Bit(const uint8_t* b, int i) { return (b[i / 8] >> (7 - i % 8)) & 1; }

bool InBlock(const Ip& ip, const Block& block) {
  if (ip.v4 != block.ip.v4) {
    return false;
  }
  for (int i = 0; i < block.prefix; ++i) {
    if (Bit(ip.b, i) != Bit(block.ip.b, i)) {
      return false;
    }
  }
  return true;
}

std::string Format(const Ip& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.v4 ? AF_INET : AF_INET6, ip.b, buf, sizeof(buf));
  return buf;
}

Status CheckSockaddr(const OriginPolicy& policy, const Ip& ip) {
  if (ip.v4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    std::memcpy(&in.sin_addr, ip.b, 4);
    return policy.CheckAddress(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  std::memcpy(&in6.sin6_addr, ip.b, 16);
  return policy.CheckAddress(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
}

void CheckCode(const Status& s, std::string_view what) {
  FUZZ_CHECK(s.ok() || s.code() == StatusCode::kPermissionDenied ||
                 s.code() == StatusCode::kInvalidArgument,
             what << ": " << s.ToString());
}

void MustRefuse(const Status& s, std::string_view what, std::string_view why) {
  FUZZ_CHECK(s.code() == StatusCode::kPermissionDenied,
             what << " is " << why << " but got " << s.ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  OriginPolicyConfig config;
  std::vector<std::string> hosts;
  std::vector<std::string> ips;
  size_t lines = 0;
  while (!input.empty() && lines++ < kMaxLines) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    if (line.empty()) {
      continue;
    }
    std::string rest(line.substr(1));
    switch (line[0]) {
      case 'A':
        config.allow.push_back(rest);
        break;
      case 'D':
        config.deny.push_back(rest);
        break;
      case 'L':
        config.deny_link_local = true;
        break;
      case 'O':
        config.deny_loopback = true;
        break;
      case 'H':
        hosts.push_back(rest);
        break;
      case 'I':
        ips.push_back(rest);
        break;
      default:
        break;
    }
  }

  Result<OriginPolicy> created = OriginPolicy::Create(config);
  if (!created.ok()) {
    const Status& s = created.status();
    FUZZ_CHECK(s.IsInvalidArgument(), s.ToString());
    bool named = false;
    for (const auto* list : {&config.allow, &config.deny}) {
      for (const std::string& e : *list) {
        named = named || s.message().starts_with("origin policy: bad entry '" + e + "': ");
      }
    }
    FUZZ_CHECK(named, "error names no entry: " << s.ToString());
    return 0;
  }
  const OriginPolicy& policy = *created;
  const OriginPolicy everything;

  // Name entries in the allow list make an IP literal written as a URL's
  // host stricter than the same address connected to (it must be allowed
  // by an address entry); never more permissive.
  const bool names_in_allow =
      std::any_of(config.allow.begin(), config.allow.end(), [](const std::string& entry) {
        Block unused;
        return !ParseBlock(entry, unused);
      });
  for (const std::string& host : hosts) {
    Status s = policy.CheckHost(host);
    CheckCode(s, "CheckHost(" + host + ")");
    FUZZ_CHECK(everything.CheckHost(host).code() != StatusCode::kPermissionDenied, host);
    Status as_address = policy.CheckAddress(host);
    if (as_address.code() == StatusCode::kInvalidArgument) {
      continue;
    }
    if (names_in_allow && s.code() == StatusCode::kPermissionDenied) {
      continue;
    }
    FUZZ_CHECK(s.code() == as_address.code(),
               "IP literal '" << host << "': " << s.ToString() << " vs " << as_address.ToString());
  }

  std::vector<Block> deny_blocks;
  for (const std::string& entry : config.deny) {
    Block block;
    if (ParseBlock(entry, block)) {
      deny_blocks.push_back(block);
      MustRefuse(policy.CheckAddress(Format(block.ip)), Format(block.ip), "in " + entry);
      MustRefuse(CheckSockaddr(policy, block.ip), Format(block.ip), "in " + entry);
    } else if (entry.starts_with("*.")) {
      MustRefuse(policy.CheckHost("x" + entry.substr(1)), "x" + entry.substr(1), "denied");
    } else {
      MustRefuse(policy.CheckHost(entry), entry, "denied");
    }
  }

  for (const std::string& text : ips) {
    Status s = policy.CheckAddress(text);
    CheckCode(s, "CheckAddress(" + text + ")");
    Ip ip;
    if (!ParseIp(text, ip)) {
      continue;
    }
    FUZZ_CHECK(everything.CheckAddress(text).ok(), text);
    Status via_sockaddr = CheckSockaddr(policy, ip);
    FUZZ_CHECK(s.ok() == via_sockaddr.ok(),
               text << ": " << s.ToString() << " vs " << via_sockaddr.ToString());
    for (const Block& block : deny_blocks) {
      if (InBlock(ip, block)) {
        MustRefuse(s, text, "denied");
      }
      // The fuzzed address with the block's prefix written over it.
      if (ip.v4 == block.ip.v4) {
        Ip moved = ip;
        for (int i = 0; i < block.prefix; ++i) {
          uint8_t mask = static_cast<uint8_t>(1u << (7 - i % 8));
          moved.b[i / 8] =
              static_cast<uint8_t>((moved.b[i / 8] & ~mask) | (block.ip.b[i / 8] & mask));
        }
        // An IPv6 block's bits can spell ::ffff:a.b.c.d, which is IPv4 and
        // outside every IPv6 block (origin_policy.h).
        Ip reparsed;
        if (ParseIp(Format(moved), reparsed) && InBlock(reparsed, block)) {
          MustRefuse(policy.CheckAddress(Format(moved)), Format(moved), "denied");
        }
      }
    }
  }
  return 0;
}
