// Which upstream registry a mirror request goes to.
//
// Thread rule: free functions on values; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include "common/status.h"
#include "mirror/mirror_config.h"

namespace feilong::mirror {

// Header a client (e.g. docker or a script) may set to name the registry
// when it cannot add containerd's `ns=` query parameter.
inline constexpr std::string_view kRegistryHeader = "X-Feilong-Registry";

// Picks the upstream: the registry named by `ns` (containerd's query
// parameter) if present, else by `header` (kRegistryHeader), else the
// default registry. Hosts compare case-insensitively. NotFound naming the
// host when the named registry is not configured (the mirror never contacts
// a registry it was not configured for).
// REQUIRES: ValidateMirrorConfig(config) succeeded.
Result<const Upstream*> ChooseUpstream(const MirrorConfig& config,
                                       const std::optional<std::string>& ns,
                                       const std::optional<std::string>& header);

}  // namespace feilong::mirror
