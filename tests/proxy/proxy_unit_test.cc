// The proxy's pure parts: config, rules, request targets, the route choice,
// and the leaf certificates the CA signs.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstdlib>

#include "common/config.h"
#include "proxy/cert_authority.h"
#include "proxy/proxy_config.h"
#include "proxy/proxy_target.h"
#include "proxy/url_rules.h"
#include "support/temp_dir.h"

namespace feilong::proxy {
namespace {

Result<ProxyConfig> Parse(std::string_view yaml) {
  FL_ASSIGN_OR_RETURN(ConfigReader root, ConfigReader::FromString(yaml));
  ProxyConfig config;
  FL_RETURN_IF_ERROR(ParseProxyConfig(root.Child("proxy"), config));
  FL_RETURN_IF_ERROR(root.CheckNoUnknownKeys());
  return config;
}

// A CA made with the openssl command (as an operator would), in `dir`.
struct TestCa {
  std::string cert;
  std::string key;
};
bool MakeCa(const test::TempDir& dir, const std::string& name, TestCa* ca) {
  ca->cert = dir.Path(name + ".pem");
  ca->key = dir.Path(name + ".key");
  std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + name +
                        " -keyout " + ca->key + " -out " + ca->cert + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

TEST(ProxyConfigTest, DefaultsAreOffAndLoopback) {
  ProxyConfig config;
  EXPECT_FALSE(config.enabled);
  EXPECT_EQ(config.listen, "127.0.0.1:65002");
  EXPECT_TRUE(config.rules.empty());
  EXPECT_TRUE(config.hijack_https.hosts.empty());
  EXPECT_TRUE(ValidateProxyConfig(config).ok());
}

TEST(ProxyConfigTest, ReadsEveryKey) {
  auto config = Parse(R"(
proxy:
  enabled: true
  listen: 127.0.0.1:0
  rules: ['\.tar\.gz$', '^http://files/']
  origin_ca_file: /etc/ssl/certs/ca-certificates.crt
  threads: 3
  io_timeout: 5s
  max_connections: 7
  hijack_https: {ca_cert: /a.pem, ca_key: /a.key, hosts: ['^example\.com$']}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->enabled);
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  ASSERT_EQ(config->rules.size(), 2u);
  EXPECT_EQ(config->rules[0], "\\.tar\\.gz$");
  EXPECT_EQ(config->threads, 3u);
  EXPECT_EQ(config->io_timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->max_connections, 7u);
  EXPECT_EQ(config->hijack_https.ca_cert, "/a.pem");
  EXPECT_EQ(config->hijack_https.ca_key, "/a.key");
  ASSERT_EQ(config->hijack_https.hosts.size(), 1u);
}

TEST(ProxyConfigTest, UnknownKeysAreNamed) {
  auto config = Parse("proxy: {enabled: true, rulez: []}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("proxy.rulez"), std::string::npos);
  auto nested = Parse("proxy: {hijack_https: {hostz: []}}\n");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("proxy.hijack_https.hostz"), std::string::npos);
}

void ExpectInvalid(const ProxyConfig& config, std::string_view key) {
  Status s = ValidateProxyConfig(config);
  ASSERT_FALSE(s.ok()) << key;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(key), std::string::npos) << s.ToString();
}

TEST(ProxyConfigTest, BadValuesNameTheKey) {
  ProxyConfig base;
  base.enabled = true;
  ProxyConfig c = base;
  c.rules = {"ok", "(unclosed"};
  ExpectInvalid(c, "proxy.rules[1]");
  c = base;
  c.hijack_https.hosts = {"[z-a]"};
  c.hijack_https.ca_cert = "/x";
  c.hijack_https.ca_key = "/y";
  ExpectInvalid(c, "proxy.hijack_https.hosts[0]");
  c = base;
  c.hijack_https.hosts = {"^h$"};
  ExpectInvalid(c, "proxy.hijack_https.ca_cert");
  c.hijack_https.ca_cert = "/nonexistent/ca.pem";
  ExpectInvalid(c, "proxy.hijack_https.ca_key");
  c.hijack_https.ca_key = "/nonexistent/ca.key";
  ExpectInvalid(c, "proxy.hijack_https.ca_cert");
  c = base;
  c.threads = 0;
  ExpectInvalid(c, "proxy.threads");
  c = base;
  c.max_connections = 0;
  ExpectInvalid(c, "proxy.max_connections");
  c = base;
  c.origin_ca_file = "/nonexistent/origin.pem";
  ExpectInvalid(c, "proxy.origin_ca_file");
  // Off: nothing is checked (a disabled section may be a template).
  c = ProxyConfig();
  c.rules = {"(unclosed"};
  EXPECT_TRUE(ValidateProxyConfig(c).ok());
}

TEST(ProxyConfigTest, CaFilesAreCheckedAndMustMatch) {
  test::TempDir dir;
  TestCa one, two;
  ASSERT_TRUE(MakeCa(dir, "one", &one));
  ASSERT_TRUE(MakeCa(dir, "two", &two));
  ProxyConfig c;
  c.enabled = true;
  c.hijack_https.hosts = {"^example\\.com$"};
  c.hijack_https.ca_cert = one.cert;
  c.hijack_https.ca_key = one.key;
  EXPECT_TRUE(ValidateProxyConfig(c).ok()) << ValidateProxyConfig(c).ToString();
  c.hijack_https.ca_key = two.key;
  ExpectInvalid(c, "proxy.hijack_https.ca_key");
  c.hijack_https.ca_key = one.cert;  // a certificate is not a key
  ExpectInvalid(c, "proxy.hijack_https.ca_key");
  c.hijack_https.ca_key = one.key;
  c.hijack_https.ca_cert = one.key;  // a key is not a certificate
  ExpectInvalid(c, "proxy.hijack_https.ca_cert");
}

TEST(UrlRulesTest, AnyRuleFoundAnywhere) {
  auto rules = UrlRules::Compile({"\\.tar\\.gz$", "^http://files\\.local/"}, "proxy.rules");
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(rules->Matches("http://a/b/c.tar.gz"));
  EXPECT_TRUE(rules->Matches("http://files.local/x"));
  EXPECT_FALSE(rules->Matches("http://a/b/c.tar.gz.sig"));
  EXPECT_FALSE(rules->Matches("http://files.localhost/x"));
  auto too_long = UrlRules::Compile({"a", std::string(2000, '(')}, "proxy.rules");
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("proxy.rules[1]"), std::string::npos);
  UrlRules none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.Matches("http://a/"));
}

TEST(UrlRulesTest, HugeBackReferencesAndCountsAreRefused) {
  // libstdc++ would overflow a signed long parsing these (the fuzzer's find).
  for (const std::string& pattern :
       {std::string("\\.tar#\\55555555555555555555\\.gz"), std::string("a{55555555555555555555}"),
        std::string("a{1,12345678}")}) {
    auto rules = UrlRules::Compile({"ok", pattern}, "proxy.rules");
    ASSERT_FALSE(rules.ok()) << pattern;
    EXPECT_NE(rules.status().message().find("proxy.rules[1]"), std::string::npos);
    EXPECT_NE(rules.status().message().find("too large"), std::string::npos);
  }
  // Ordinary counts, escapes and digit runs still compile.
  auto fine = UrlRules::Compile({"a{2,300}", "\\\\1234567890", "/v[0-9]{1}/sha256-[0-9]{64}"},
                                "proxy.rules");
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_TRUE(fine->Matches("x\\1234567890"));
}

TEST(ProxyTargetTest, AbsoluteHttpTargets) {
  auto t = ParseAbsoluteTarget("http://Example.com:8080/a/b?x=1&y=2");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->scheme, "http");
  EXPECT_EQ(t->host, "Example.com");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->host_header, "Example.com:8080");
  EXPECT_EQ(t->path_and_query, "/a/b?x=1&y=2");
  EXPECT_EQ(t->url, "http://Example.com:8080/a/b?x=1&y=2");

  auto bare = ParseAbsoluteTarget("http://h");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->port, 80);
  EXPECT_EQ(bare->host_header, "h");
  EXPECT_EQ(bare->path_and_query, "/");
  EXPECT_EQ(bare->url, "http://h/");

  auto v6 = ParseAbsoluteTarget("http://[::1]:81/f");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header, "[::1]:81");

  for (const char* bad :
       {"/relative", "", "https://h/", "ftp://h/", "http://u:p@h/", "http://h/#frag", "http://h:0/",
        "http://h:99999/", "http:///x", "http://h/a b"}) {
    auto r = ParseAbsoluteTarget(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ProxyTargetTest, InterceptedTargetsAreHttpsOfTheConnect) {
  HostPort authority{"example.com", 443};
  auto t = ParseInterceptedTarget("/f?q=1", authority);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->scheme, "https");
  EXPECT_EQ(t->url, "https://example.com/f?q=1");
  EXPECT_EQ(t->host_header, "example.com");
  auto odd_port = ParseInterceptedTarget("/f", HostPort{"127.0.0.1", 8443});
  ASSERT_TRUE(odd_port.ok());
  EXPECT_EQ(odd_port->url, "https://127.0.0.1:8443/f");
  EXPECT_TRUE(ParseInterceptedTarget("https://example.com/f", authority).ok());
  EXPECT_FALSE(ParseInterceptedTarget("https://other.com/f", authority).ok());
  EXPECT_FALSE(ParseInterceptedTarget("http://example.com/f", authority).ok());
  EXPECT_FALSE(ParseInterceptedTarget("*", authority).ok());
  EXPECT_FALSE(ParseInterceptedTarget("/a b", authority).ok());
}

TEST(ProxyTargetTest, ConnectTargets) {
  auto t = ParseConnectTarget("example.com:443");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, 443);
  auto v6 = ParseConnectTarget("[::1]:8443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"example.com", "example.com:0", "/x", "", "h:port", "http://h:1/"}) {
    EXPECT_FALSE(ParseConnectTarget(bad).ok()) << bad;
  }
}

TEST(ChooseRouteTest, OnlyPlainMatchingGetsGoP2P) {
  auto rules = UrlRules::Compile({"/p2p/"}, "proxy.rules");
  ASSERT_TRUE(rules.ok());
  auto match = ParseAbsoluteTarget("http://h/p2p/file");
  auto other = ParseAbsoluteTarget("http://h/other");
  ASSERT_TRUE(match.ok() && other.ok());
  RequestFacts get{.get = true};
  EXPECT_EQ(ChooseRoute(*rules, *match, get), Route::kP2P);
  EXPECT_EQ(ChooseRoute(*rules, *other, get), Route::kForward);
  EXPECT_EQ(ChooseRoute(*rules, *match, RequestFacts{.get = false}), Route::kForward);
  EXPECT_EQ(ChooseRoute(*rules, *match, RequestFacts{.get = true, .unservable_range = true}),
            Route::kForward);
  // A body never goes P2P, even on a GET.
  EXPECT_EQ(ChooseRoute(*rules, *match, RequestFacts{.get = true, .body = true}), Route::kForward);
  EXPECT_EQ(ChooseRoute(*rules, *match, RequestFacts{.get = true, .credentials = true}),
            Route::kForward);
  EXPECT_EQ(RouteName(Route::kP2P), "p2p");
  EXPECT_EQ(RouteName(Route::kForward), "forward");
  EXPECT_EQ(RouteName(Route::kTunnel), "tunnel");
  EXPECT_EQ(RouteName(Route::kHijack), "hijack");
}

// The leaf certificate of a context: verifies against the CA, names the host.
void ExpectLeafFor(const test::TempDir& dir, const TestCa& ca, boost::asio::ssl::context& context,
                   const std::string& host, bool ip) {
  X509* leaf = SSL_CTX_get0_certificate(context.native_handle());
  ASSERT_NE(leaf, nullptr);
  FILE* f = std::fopen(ca.cert.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* root = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(root, nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root);
  X509_STORE_CTX* verify = X509_STORE_CTX_new();
  X509_STORE_CTX_init(verify, store, leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(verify);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  }
  EXPECT_EQ(X509_verify_cert(verify), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify)) << " for " << host;
  X509_STORE_CTX_free(verify);
  X509_STORE_free(store);
  X509_free(root);
  (void)dir;
}

TEST(CertAuthorityTest, SignsCachedLeafCertificatesPerHost) {
  test::TempDir dir;
  TestCa ca;
  ASSERT_TRUE(MakeCa(dir, "proxy-ca", &ca));
  auto authority = CertAuthority::Load(ca.cert, ca.key);
  ASSERT_TRUE(authority.ok()) << authority.status().ToString();
  auto a = (*authority)->ServerContextFor("files.example.com");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ExpectLeafFor(dir, ca, **a, "files.example.com", false);
  auto again = (*authority)->ServerContextFor("files.example.com");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(a->get(), again->get());  // cached
  auto ip = (*authority)->ServerContextFor("127.0.0.1");
  ASSERT_TRUE(ip.ok());
  ExpectLeafFor(dir, ca, **ip, "127.0.0.1", true);
  EXPECT_NE(a->get(), ip->get());
  // A name longer than a common name may be still gets a certificate.
  std::string long_name(70, 'a');
  long_name += ".example.com";
  auto long_host = (*authority)->ServerContextFor(long_name);
  ASSERT_TRUE(long_host.ok()) << long_host.status().ToString();
  ExpectLeafFor(dir, ca, **long_host, long_name, false);
}

}  // namespace
}  // namespace feilong::proxy
