#include "mirror/upstream.h"

#include <strings.h>

namespace feilong::mirror {

namespace {

const Upstream* FindUpstream(const MirrorConfig& config, std::string_view host) {
  for (const Upstream& u : config.registries) {
    if (u.host.size() == host.size() &&
        ::strncasecmp(u.host.data(), host.data(), host.size()) == 0) {
      return &u;
    }
  }
  return nullptr;
}

}  // namespace

Result<const Upstream*> ChooseUpstream(const MirrorConfig& config,
                                       const std::optional<std::string>& ns,
                                       const std::optional<std::string>& header) {
  const std::optional<std::string>& named = ns ? ns : header;
  const std::string& host = named ? *named : config.default_registry;
  if (const Upstream* u = FindUpstream(config, host)) {
    return u;
  }
  return Status::NotFound("registry '" + host + "' is not configured in mirror.registries");
}

}  // namespace feilong::mirror
