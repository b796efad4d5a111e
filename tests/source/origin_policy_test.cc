#include "source/origin_policy.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "common/config.h"

namespace feilong::source {
namespace {

using ::testing::HasSubstr;

enum class Kind { kHost, kAddress };

// "OK" or Status::ToString(), so that one string pins both the code and the
// whole message.
std::string Check(const OriginPolicy& policy, Kind kind, std::string_view input) {
  Status status = kind == Kind::kHost ? policy.CheckHost(input) : policy.CheckAddress(input);
  return status.ok() ? "OK" : status.ToString();
}

OriginPolicy Make(const OriginPolicyConfig& config) {
  Result<OriginPolicy> policy = OriginPolicy::Create(config);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  return policy.ok() ? *policy : OriginPolicy();
}

std::string Refused(std::string_view shown, std::string_view why) {
  return "PermissionDenied: origin policy refuses " + std::string(shown) + " (" + std::string(why) +
         ")";
}

struct Case {
  const char* what;
  OriginPolicyConfig config;
  Kind kind;
  const char* input;
  std::string expected;  // "OK" or the Status::ToString() of the refusal
};

constexpr Kind kHost = Kind::kHost;
constexpr Kind kAddr = Kind::kAddress;
constexpr char kOk[] = "OK";

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(Check(Make(c.config), c.kind, c.input), c.expected)
        << c.what << ": " << (c.kind == kHost ? "CheckHost" : "CheckAddress") << "('" << c.input
        << "')";
  }
}

TEST(OriginPolicyTest, PrecedenceSteps) {
  const OriginPolicyConfig nested{.allow = {"10.0.0.0/8"}, .deny = {"10.1.0.0/16"}};
  const OriginPolicyConfig names{.allow = {"*.example.com"}, .deny = {"bad.example.com"}};
  const OriginPolicyConfig reopen{.allow = {"127.0.0.1", "localhost"}, .deny_loopback = true};
  const OriginPolicyConfig deny_beats_flag_and_allow{
      .allow = {"127.0.0.1"}, .deny = {"127.0.0.1"}, .deny_loopback = false};
  const OriginPolicyConfig ip_allow{.allow = {"10.0.0.0/8"}};
  const OriginPolicyConfig name_allow{.allow = {"*.example.com"}};
  RunCases({
      // 1. deny wins over a matching allow.
      {"1 deny", nested, kAddr, "10.1.2.3", Refused("10.1.2.3", "denied by '10.1.0.0/16'")},
      {"1 deny", deny_beats_flag_and_allow, kAddr, "127.0.0.1",
       Refused("127.0.0.1", "denied by '127.0.0.1'")},
      {"1 deny name", names, kHost, "bad.example.com",
       Refused("bad.example.com", "denied by 'bad.example.com'")},
      // 2. allow wins over a default deny.
      {"2 allow", nested, kAddr, "10.2.0.1", kOk},
      {"2 allow name", names, kHost, "good.example.com", kOk},
      {"2 reopen loopback", reopen, kAddr, "127.0.0.1", kOk},
      {"2 reopen localhost", reopen, kHost, "localhost", kOk},
      // 3. a default deny comes before "not in the allow list".
      {"3 loopback", reopen, kAddr, "127.0.0.2", Refused("127.0.0.2", "loopback")},
      {"3 localhost", reopen, kHost, "a.localhost", Refused("a.localhost", "loopback")},
      // 4. a non-empty allow list refuses the rest.
      {"4 address", ip_allow, kAddr, "11.0.0.1", Refused("11.0.0.1", "not in the allow list")},
      {"4 name", name_allow, kHost, "example.org", Refused("example.org", "not in the allow list")},
      {"4 name", reopen, kHost, "example.org", Refused("example.org", "not in the allow list")},
      // An address-only allow list leaves names to the address check...
      {"4 name vs ip allow", ip_allow, kHost, "example.org", kOk},
      // ...and a names-only allow list leaves addresses connected to (after
      // the name, or a redirect's Location, passed) to the deny rules...
      {"4 address vs name allow", name_allow, kAddr, "93.184.216.34", kOk},
      {"4 address vs name allow, mixed", reopen, kAddr, "10.0.0.1",
       Refused("10.0.0.1", "not in the allow list")},
      // ...but an address written as the URL's host must be allowed itself.
      {"4 IP literal host", name_allow, kHost, "1.2.3.4",
       Refused("1.2.3.4", "not in the allow list")},
      // IP entries never match names, name entries never match addresses.
      {"kinds", OriginPolicyConfig{.deny = {"10.0.0.0/8"}}, kHost, "ten.example", kOk},
      {"kinds", OriginPolicyConfig{.deny = {"localhost"}}, kAddr, "127.0.0.1", kOk},
  });
}

TEST(OriginPolicyTest, DefaultDenies) {
  const OriginPolicyConfig link{.deny_link_local = true};
  const OriginPolicyConfig loop{.deny_loopback = true};
  RunCases({
      {"metadata", link, kAddr, "169.254.169.254", Refused("169.254.169.254", "link-local")},
      {"v4 low edge", link, kAddr, "169.254.0.0", Refused("169.254.0.0", "link-local")},
      {"v4 high edge", link, kAddr, "169.254.255.255", Refused("169.254.255.255", "link-local")},
      {"v4 below", link, kAddr, "169.253.255.255", kOk},
      {"v4 above", link, kAddr, "169.255.0.0", kOk},
      {"v6", link, kAddr, "fe80::1", Refused("fe80::1", "link-local")},
      {"v6 high edge", link, kAddr, "febf:ffff::1", Refused("febf:ffff::1", "link-local")},
      {"v6 above", link, kAddr, "fec0::1", kOk},
      {"v6 zone", link, kHost, "[fe80::1%eth0]", Refused("[fe80::1%eth0]", "link-local")},
      {"mapped", link, kAddr, "::ffff:169.254.169.254",
       Refused("::ffff:169.254.169.254", "link-local")},
      {"link flag only", link, kAddr, "127.0.0.1", kOk},
      {"v4", loop, kAddr, "127.255.255.255", Refused("127.255.255.255", "loopback")},
      {"v4 above", loop, kAddr, "128.0.0.0", kOk},
      {"v6", loop, kAddr, "::1", Refused("::1", "loopback")},
      {"v6 next", loop, kAddr, "::2", kOk},
      {"unspecified v4", loop, kAddr, "0.0.0.0", Refused("0.0.0.0", "loopback")},
      {"unspecified v6", loop, kAddr, "::", Refused("::", "loopback")},
      {"0/8 is not local", loop, kAddr, "0.0.0.1", kOk},
      {"mapped", loop, kAddr, "::ffff:127.0.0.1", Refused("::ffff:127.0.0.1", "loopback")},
      {"literal host", loop, kHost, "127.0.0.1", Refused("127.0.0.1", "loopback")},
      {"bracketed host", loop, kHost, "[::1]", Refused("[::1]", "loopback")},
      {"localhost", loop, kHost, "localhost", Refused("localhost", "loopback")},
      {"localhost case dot", loop, kHost, "LocalHost.", Refused("LocalHost.", "loopback")},
      {"sub.localhost", loop, kHost, "app.LOCALHOST", Refused("app.LOCALHOST", "loopback")},
      {"not localhost", loop, kHost, "notlocalhost", kOk},
      {"localhost.example", loop, kHost, "localhost.example.com", kOk},
      {"loop flag only", loop, kAddr, "169.254.169.254", kOk},
      {"no flag", OriginPolicyConfig{}, kHost, "localhost", kOk},
  });
}

TEST(OriginPolicyTest, CidrEdges) {
  auto deny = [](const char* entry) { return OriginPolicyConfig{.deny = {entry}}; };
  RunCases({
      {"v4 /0", deny("0.0.0.0/0"), kAddr, "255.255.255.255",
       Refused("255.255.255.255", "denied by '0.0.0.0/0'")},
      {"v4 /0 leaves v6", deny("0.0.0.0/0"), kAddr, "2001:db8::1", kOk},
      {"v4 /0 covers mapped", deny("0.0.0.0/0"), kAddr, "::ffff:8.8.8.8",
       Refused("::ffff:8.8.8.8", "denied by '0.0.0.0/0'")},
      {"v6 /0", deny("::/0"), kAddr, "2001:db8::1", Refused("2001:db8::1", "denied by '::/0'")},
      {"v6 /0 leaves v4", deny("::/0"), kAddr, "10.0.0.1", kOk},
      {"v6 /0 leaves mapped", deny("::/0"), kAddr, "::ffff:10.0.0.1", kOk},
      {"/32", deny("10.0.0.1/32"), kAddr, "10.0.0.1",
       Refused("10.0.0.1", "denied by '10.0.0.1/32'")},
      {"/32 below", deny("10.0.0.1/32"), kAddr, "10.0.0.0", kOk},
      {"/32 above", deny("10.0.0.1/32"), kAddr, "10.0.0.2", kOk},
      {"bare v4", deny("10.0.0.7"), kAddr, "10.0.0.7", Refused("10.0.0.7", "denied by '10.0.0.7'")},
      {"bare v4 is /32", deny("10.0.0.7"), kAddr, "10.0.0.6", kOk},
      {"/31", deny("10.0.0.0/31"), kAddr, "10.0.0.1",
       Refused("10.0.0.1", "denied by '10.0.0.0/31'")},
      {"/31 above", deny("10.0.0.0/31"), kAddr, "10.0.0.2", kOk},
      {"/8 top", deny("10.0.0.0/8"), kAddr, "10.255.255.255",
       Refused("10.255.255.255", "denied by '10.0.0.0/8'")},
      {"/8 above", deny("10.0.0.0/8"), kAddr, "11.0.0.0", kOk},
      {"/128", deny("2001:db8::1/128"), kAddr, "2001:db8::1",
       Refused("2001:db8::1", "denied by '2001:db8::1/128'")},
      {"/128 next", deny("2001:db8::1/128"), kAddr, "2001:db8::2", kOk},
      {"bare v6 is /128", deny("2001:db8::1"), kAddr, "2001:db8::0", kOk},
      {"/32 v6", deny("2001:db8::/32"), kAddr, "2001:db8:ffff:ffff::1",
       Refused("2001:db8:ffff:ffff::1", "denied by '2001:db8::/32'")},
      {"/32 v6 above", deny("2001:db8::/32"), kAddr, "2001:db9::", kOk},
      {"/7", deny("fc00::/7"), kAddr, "fdff::1", Refused("fdff::1", "denied by 'fc00::/7'")},
      {"/7 above", deny("fc00::/7"), kAddr, "fe00::1", kOk},
  });
}

TEST(OriginPolicyTest, Ipv6AndMappedAddresses) {
  const OriginPolicyConfig v4{.deny = {"10.0.0.0/8"}};
  const OriginPolicyConfig mapped_single{.deny = {"::FFFF:10.1.2.3"}};
  const OriginPolicyConfig v6{.deny = {"2001:db8::/32"}};
  RunCases({
      {"mapped address, v4 entry", v4, kAddr, "::ffff:10.1.2.3",
       Refused("::ffff:10.1.2.3", "denied by '10.0.0.0/8'")},
      {"mapped hex form", v4, kAddr, "::ffff:a01:203",
       Refused("::ffff:a01:203", "denied by '10.0.0.0/8'")},
      {"bracketed mapped host", v4, kHost, "[::ffff:10.1.2.3]",
       Refused("[::ffff:10.1.2.3]", "denied by '10.0.0.0/8'")},
      {"compatible form is not mapped", v4, kAddr, "::10.1.2.3", kOk},
      {"mapped single entry", mapped_single, kAddr, "10.1.2.3",
       Refused("10.1.2.3", "denied by '::FFFF:10.1.2.3'")},
      {"mapped single entry, next", mapped_single, kAddr, "10.1.2.4", kOk},
      {"bracketed host", v6, kHost, "[2001:DB8::1]",
       Refused("[2001:DB8::1]", "denied by '2001:db8::/32'")},
      {"bare v6 host", v6, kHost, "2001:db8::1",
       Refused("2001:db8::1", "denied by '2001:db8::/32'")},
      {"zone ignored", v6, kAddr, "2001:db8::1%eth0",
       Refused("2001:db8::1%eth0", "denied by '2001:db8::/32'")},
      {"outside", v6, kHost, "[2001:db9::1]", kOk},
  });
}

TEST(OriginPolicyTest, Names) {
  const OriginPolicyConfig exact{.deny = {"Registry.Example.COM."}};
  const OriginPolicyConfig suffix{.deny = {"*.Example.com"}};
  RunCases({
      {"exact", exact, kHost, "registry.example.com",
       Refused("registry.example.com", "denied by 'Registry.Example.COM.'")},
      {"exact case and dot", exact, kHost, "REGISTRY.example.com.",
       Refused("REGISTRY.example.com.", "denied by 'Registry.Example.COM.'")},
      {"exact longer", exact, kHost, "registry.example.com.evil", kOk},
      {"exact prefixed", exact, kHost, "xregistry.example.com", kOk},
      {"exact subdomain", exact, kHost, "a.registry.example.com", kOk},
      {"suffix one label", suffix, kHost, "a.example.com",
       Refused("a.example.com", "denied by '*.Example.com'")},
      {"suffix two labels", suffix, kHost, "a.b.EXAMPLE.com.",
       Refused("a.b.EXAMPLE.com.", "denied by '*.Example.com'")},
      {"suffix bare", suffix, kHost, "example.com", kOk},
      {"suffix bare dot", suffix, kHost, "example.com.", kOk},
      {"suffix no dot before", suffix, kHost, "badexample.com", kOk},
      {"suffix empty label", suffix, kHost, ".example.com", kOk},
  });
}

TEST(OriginPolicyTest, BadEntriesAreNamed) {
  struct Bad {
    const char* entry;
    const char* why;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"10.0.0.0/33", "prefix length over 32"},
           {"::/129", "prefix length over 128"},
           {"::ffff:10.0.0.0/104", "write an IPv4-mapped block as IPv4 (a.b.c.d/n)"},
           {"::ffff:10.0.0.1/128", "write an IPv4-mapped block as IPv4 (a.b.c.d/n)"},
           {"10.1.2.3/8", "bits set after the prefix length (did you mean '10.0.0.0/8'?)"},
           {"10.0.0.1/0", "bits set after the prefix length (did you mean '0.0.0.0/0'?)"},
           {"fd00::1/8", "bits set after the prefix length (did you mean 'fd00::/8'?)"},
           {"10.0.0.0/", "prefix length is not a number"},
           {"10.0.0.0/x", "prefix length is not a number"},
           {"10.0.0.0/-1", "prefix length is not a number"},
           {"10.0.0.0/0008", "prefix length is not a number"},
           {"10.0.0.0/8/8", "prefix length is not a number"},
           {"10.0.0/8", "not an IP address before '/'"},
           {"/8", "not an IP address before '/'"},
           {"::gg", "not an IPv6 address"},
           {"fe80::1%eth0", "not an IPv6 address"},
           {"[::1]", "not an IPv6 address"},
           {"10.0.0.256", "not a valid IPv4 address"},
           {"127.1", "not a valid IPv4 address"},
           {"", "empty name or label"},
           {"a..b", "empty name or label"},
           {".example.com", "empty name or label"},
           {"*.", "not an IP address, a CIDR or a host name"},
           {"*", "not an IP address, a CIDR or a host name"},
           {"*example.com", "not an IP address, a CIDR or a host name"},
           {"*.*.example.com", "not an IP address, a CIDR or a host name"},
           {" 10.0.0.1", "not an IP address, a CIDR or a host name"},
           {"exa mple.com", "not an IP address, a CIDR or a host name"},
       }) {
    std::string expected =
        "InvalidArgument: origin policy: bad entry '" + std::string(bad.entry) + "': " + bad.why;
    for (bool in_deny : {false, true}) {
      OriginPolicyConfig config;
      // A good entry first: the error must name the bad one.
      (in_deny ? config.deny : config.allow) = {"ok.example.com", bad.entry};
      Result<OriginPolicy> policy = OriginPolicy::Create(config);
      EXPECT_FALSE(policy.ok()) << bad.entry;
      EXPECT_EQ(policy.status().ToString(), expected) << (in_deny ? "deny" : "allow");
    }
  }
}

TEST(OriginPolicyTest, GoodEntriesAreAccepted) {
  Result<OriginPolicy> policy =
      OriginPolicy::Create({.allow = {"10.0.0.0/8", "0.0.0.0/0", "::/0", "2001:db8::1/128",
                                      "fe80::/10", "1.2.3.4", "::ffff:10.0.0.1", "*.example.com",
                                      "Registry-1.Docker.io.", "under_score", "localhost"}});
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
}

TEST(OriginPolicyTest, DefaultPolicyAllowsEverything) {
  OriginPolicy policy;
  EXPECT_TRUE(policy.allows_everything());
  for (const char* host : {"localhost", "127.0.0.1", "[::1]", "169.254.169.254", "example.com"}) {
    EXPECT_EQ(Check(policy, kHost, host), kOk) << host;
  }
  EXPECT_TRUE(Make({}).allows_everything());
  EXPECT_FALSE(Make({.deny_link_local = true}).allows_everything());
  EXPECT_FALSE(Make({.deny_loopback = true}).allows_everything());
  EXPECT_FALSE(Make({.allow = {"10.0.0.1"}}).allows_everything());
  EXPECT_FALSE(Make({.deny = {"example.com"}}).allows_everything());
}

TEST(OriginPolicyTest, MalformedInputsAreInvalidArgument) {
  OriginPolicy policy = Make({.deny_loopback = true});
  for (const char* host : {"", "[::1", "[]", "[10.0.0.1]", "[example.com]", "a:b", "::1]"}) {
    EXPECT_EQ(policy.CheckHost(host).code(), StatusCode::kInvalidArgument) << "'" << host << "'";
  }
  for (const char* ip : {"", "localhost", "[::1]", "127.1", "10.0.0.256"}) {
    EXPECT_EQ(policy.CheckAddress(std::string_view(ip)).code(), StatusCode::kInvalidArgument)
        << "'" << ip << "'";
  }
  // An embedded NUL must not end the address early.
  using std::string_view_literals::operator""sv;
  EXPECT_EQ(policy.CheckAddress("127.0.0.1\0x"sv).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(policy.CheckHost("127.0.0.1\0x"sv).code(), StatusCode::kInvalidArgument);
  Result<OriginPolicy> nul_entry = OriginPolicy::Create({.deny = {std::string("10.0.0.1\0x", 11)}});
  EXPECT_EQ(nul_entry.status().code(), StatusCode::kInvalidArgument);
}

TEST(OriginPolicyTest, SockaddrForms) {
  OriginPolicy policy = Make({.deny_link_local = true, .deny_loopback = true});

  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(80);
  ASSERT_EQ(inet_pton(AF_INET, "169.254.169.254", &in.sin_addr), 1);
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in), sizeof(in)).ToString(),
            Refused("169.254.169.254", "link-local"));
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in), sizeof(in) - 1).code(),
            StatusCode::kInvalidArgument);
  ASSERT_EQ(inet_pton(AF_INET, "93.184.216.34", &in.sin_addr), 1);
  EXPECT_TRUE(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in), sizeof(in)).ok());

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)).ToString(),
            Refused("127.0.0.1", "loopback"));
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)).ToString(),
            Refused("fe80::1", "link-local"));
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in6), sizeof(sockaddr_in)).code(),
            StatusCode::kInvalidArgument);
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr), 1);
  EXPECT_TRUE(policy.CheckAddress(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)).ok());

  EXPECT_EQ(policy.CheckAddress(nullptr, 0).code(), StatusCode::kInvalidArgument);

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(policy.CheckAddress(reinterpret_cast<sockaddr*>(&un), sizeof(un)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(OriginPolicy().CheckAddress(reinterpret_cast<sockaddr*>(&un), sizeof(un)).ok());
}

TEST(OriginPolicyTest, ReadFromYaml) {
  Result<ConfigReader> root = ConfigReader::FromString(R"(
origin_policy:
  allow: [10.0.0.0/8, "*.example.com"]
  deny: [10.9.0.0/16]
  deny_link_local: true
  deny_loopback: false
  allwo: [typo]
)");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  Result<OriginPolicyConfig> config = ReadOriginPolicy(
      root->Child("origin_policy"), {.deny = {"192.168.0.0/16"}, .deny_loopback = true});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->allow, (std::vector<std::string>{"10.0.0.0/8", "*.example.com"}));
  EXPECT_EQ(config->deny, (std::vector<std::string>{"10.9.0.0/16"}));
  EXPECT_TRUE(config->deny_link_local);
  EXPECT_FALSE(config->deny_loopback);
  // The unknown key is left for the caller.
  EXPECT_EQ(root->CheckNoUnknownKeys().ToString(),
            "InvalidArgument: unknown config key 'origin_policy.allwo'");

  OriginPolicy policy = Make(*config);
  EXPECT_EQ(Check(policy, kAddr, "10.9.0.1"), Refused("10.9.0.1", "denied by '10.9.0.0/16'"));
  EXPECT_EQ(Check(policy, kAddr, "10.8.0.1"), kOk);
  EXPECT_EQ(Check(policy, kHost, "a.example.com"), kOk);
}

TEST(OriginPolicyTest, ReadFromYamlKeepsDefaultsForAbsentKeys) {
  Result<ConfigReader> root = ConfigReader::FromString("origin_policy:\n  deny_link_local: true\n");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  Result<OriginPolicyConfig> config = ReadOriginPolicy(
      root->Child("origin_policy"), {.allow = {"a.example.com"}, .deny_loopback = true});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->allow, (std::vector<std::string>{"a.example.com"}));
  EXPECT_TRUE(config->deny.empty());
  EXPECT_TRUE(config->deny_link_local);
  EXPECT_TRUE(config->deny_loopback);
  EXPECT_TRUE(root->CheckNoUnknownKeys().ok());
}

TEST(OriginPolicyTest, ReadFromYamlErrorsNameTheKey) {
  struct Bad {
    const char* yaml;
    const char* key;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"p:\n  src:\n    deny_loopback: maybe\n", "'p.src.deny_loopback'"},
           {"p:\n  src:\n    deny_link_local: [true]\n", "'p.src.deny_link_local'"},
           {"p:\n  src:\n    allow: {a: b}\n", "'p.src.allow'"},
           {"p:\n  src:\n    deny: 10.0.0.0/8\n", "'p.src.deny'"},
       }) {
    Result<ConfigReader> root = ConfigReader::FromString(bad.yaml);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    Result<OriginPolicyConfig> config = ReadOriginPolicy(root->Child("p").Child("src"), {});
    ASSERT_FALSE(config.ok()) << bad.yaml;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr("config key " + std::string(bad.key)))
        << bad.yaml;
  }

  Result<ConfigReader> root =
      ConfigReader::FromString("src:\n  deny: [ok.example.com, 10.0.0.0/33]\n");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  Result<OriginPolicyConfig> config = ReadOriginPolicy(root->Child("src"), {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().ToString(),
            "InvalidArgument: config key 'src.deny[1]': origin policy: bad entry '10.0.0.0/33': "
            "prefix length over 32");
}

}  // namespace
}  // namespace feilong::source
