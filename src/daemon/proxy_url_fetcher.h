// ProxyUrlFetcher: the HTTP proxy's way into the daemon's downloads. A
// proxied GET becomes a task whose id comes from the URL exactly as for
// `flget <url>` (TaskIdForSpec: normalized URL, no tag, no application), so
// proxy clients and flget share the pieces of one URL.
//
// Thread rule: thread-safe (TaskManager is).
#pragma once

#include "daemon/download/task_manager.h"
#include "proxy/url_fetcher.h"

namespace feilong::daemon {

struct DaemonConfig;

class ProxyUrlFetcher final : public proxy::UrlFetcher {
 public:
  // REQUIRES: `tasks` and `config` outlive this object.
  ProxyUrlFetcher(TaskManager& tasks, const DaemonConfig& config)
      : tasks_(tasks), config_(config) {}

  Result<std::string> Start(const proxy::UrlFetchRequest& request,
                            std::function<void(const proxy::FetchProgress&)> on_progress) override;

 private:
  TaskManager& tasks_;
  const DaemonConfig& config_;
};

}  // namespace feilong::daemon
