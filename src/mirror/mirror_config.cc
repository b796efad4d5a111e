#include "mirror/mirror_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.h"
#include "common/config.h"
#include "source/url.h"

namespace feilong::mirror {

namespace {

Status Invalid(std::string_view key, std::string_view message) {
  return Status::InvalidArgument(fmt::format("config key '{}': {}", key, message));
}

}  // namespace

Status ParseMirrorConfig(const ConfigReader& mirror, MirrorConfig& config) {
  FL_RETURN_IF_ERROR(mirror.Read("enabled", config.enabled));
  FL_RETURN_IF_ERROR(mirror.Read("listen", config.listen));
  FL_RETURN_IF_ERROR(mirror.Read("default_registry", config.default_registry));
  FL_RETURN_IF_ERROR(mirror.Read("verify_blob_access", config.verify_blob_access));
  FL_RETURN_IF_ERROR(mirror.Read("threads", config.threads));
  FL_RETURN_IF_ERROR(mirror.Read("io_timeout", config.io_timeout));
  if (mirror.Has("registries")) {
    ConfigReader registries = mirror.Child("registries");
    config.registries.clear();
    for (const std::string& host : registries.Keys()) {
      Upstream upstream;
      upstream.host = host;
      FL_RETURN_IF_ERROR(registries.Read(host, upstream.url));
      config.registries.push_back(std::move(upstream));
    }
  }
  return Status::Ok();
}

Status ValidateMirrorConfig(MirrorConfig& config) {
  if (!config.enabled) {
    return Status::Ok();
  }
  if (config.registries.empty()) {
    return Invalid("mirror.registries", "at least one registry is required when the mirror is on");
  }
  if (config.threads == 0) {
    return Invalid("mirror.threads", "must be at least 1");
  }
  for (size_t i = 0; i < config.registries.size(); ++i) {
    Upstream& u = config.registries[i];
    const std::string key = "mirror.registries." + u.host;
    if (u.host.empty()) {
      return Invalid("mirror.registries", "a registry host must not be empty");
    }
    for (size_t j = 0; j < i; ++j) {
      if (AsciiLowercase(config.registries[j].host) == AsciiLowercase(u.host)) {
        return Invalid(key, "registry listed twice");
      }
    }
    auto parsed = source::ParseUrl(u.url);
    if (!parsed.ok()) {
      return Invalid(key, parsed.status().message());
    }
    if (parsed->scheme != "http" && parsed->scheme != "https") {
      return Invalid(key, "expected an http:// or https:// URL, got '" + u.url + "'");
    }
    if (!parsed->userinfo.empty() || parsed->query || parsed->fragment ||
        (!parsed->path.empty() && parsed->path != "/")) {
      return Invalid(key,
                     "expected scheme://host[:port] only, got '" + source::RedactUrl(u.url) + "'");
    }
    u.tls = parsed->scheme == "https";
    u.connect_host = parsed->host;
    if (u.connect_host.size() > 2 && u.connect_host.front() == '[') {
      u.connect_host = u.connect_host.substr(1, u.connect_host.size() - 2);
    }
    u.connect_port = parsed->port.value_or(u.tls ? 443 : 80);
    u.host_header = parsed->host;
    if (parsed->port) {
      u.host_header += ":" + std::to_string(*parsed->port);
    }
    while (!u.url.empty() && u.url.back() == '/') {
      u.url.pop_back();
    }
  }
  if (config.default_registry.empty()) {
    config.default_registry = config.registries.front().host;
  } else if (std::none_of(
                 config.registries.begin(), config.registries.end(), [&](const Upstream& u) {
                   return AsciiLowercase(u.host) == AsciiLowercase(config.default_registry);
                 })) {
    return Invalid("mirror.default_registry",
                   "'" + config.default_registry + "' is not one of mirror.registries");
  }
  return Status::Ok();
}

}  // namespace feilong::mirror
