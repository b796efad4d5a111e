#include "proxy/proxy_config.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/config.h"
#include "proxy/cert_authority.h"
#include "proxy/url_rules.h"

namespace feilong::proxy {

namespace {

Status Invalid(std::string_view key, std::string_view message) {
  return Status::InvalidArgument(fmt::format("config key '{}': {}", key, message));
}

}  // namespace

Status ParseProxyConfig(const ConfigReader& proxy, ProxyConfig& config) {
  FL_RETURN_IF_ERROR(proxy.Read("enabled", config.enabled));
  FL_RETURN_IF_ERROR(proxy.Read("listen", config.listen));
  FL_RETURN_IF_ERROR(proxy.Read("rules", config.rules));
  FL_RETURN_IF_ERROR(proxy.Read("origin_ca_file", config.origin_ca_file));
  FL_RETURN_IF_ERROR(proxy.Read("threads", config.threads));
  FL_RETURN_IF_ERROR(proxy.Read("io_timeout", config.io_timeout));
  FL_RETURN_IF_ERROR(proxy.Read("max_connections", config.max_connections));
  ConfigReader hijack = proxy.Child("hijack_https");
  FL_RETURN_IF_ERROR(hijack.Read("ca_cert", config.hijack_https.ca_cert));
  FL_RETURN_IF_ERROR(hijack.Read("ca_key", config.hijack_https.ca_key));
  FL_RETURN_IF_ERROR(hijack.Read("hosts", config.hijack_https.hosts));
  return Status::Ok();
}

Status ValidateProxyConfig(const ProxyConfig& config) {
  if (!config.enabled) {
    return Status::Ok();
  }
  if (config.threads == 0) {
    return Invalid("proxy.threads", "must be at least 1");
  }
  if (config.max_connections == 0) {
    return Invalid("proxy.max_connections", "must be at least 1");
  }
  if (config.io_timeout.count() <= 0) {
    return Invalid("proxy.io_timeout", "must be positive");
  }
  FL_RETURN_IF_ERROR(UrlRules::Compile(config.rules, "proxy.rules").status());
  const HijackConfig& hijack = config.hijack_https;
  FL_RETURN_IF_ERROR(UrlRules::Compile(hijack.hosts, "proxy.hijack_https.hosts").status());
  if (!hijack.hosts.empty() || !hijack.ca_cert.empty() || !hijack.ca_key.empty()) {
    if (hijack.ca_cert.empty()) {
      return Invalid("proxy.hijack_https.ca_cert", "required to intercept HTTPS");
    }
    if (hijack.ca_key.empty()) {
      return Invalid("proxy.hijack_https.ca_key", "required to intercept HTTPS");
    }
    FL_RETURN_IF_ERROR(CertAuthority::Load(hijack.ca_cert, hijack.ca_key).status());
  }
  if (!config.origin_ca_file.empty() && !std::ifstream(config.origin_ca_file).good()) {
    return Invalid("proxy.origin_ca_file",
                   "cannot read '" + config.origin_ca_file + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace feilong::proxy
