// UrlFetcher: how the proxy starts the P2P download of a URL. The daemon
// implements it over its TaskManager (src/daemon/proxy_url_fetcher.h), so
// this component needs no daemon or gRPC headers and tests can fake it.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "mirror/blob_fetcher.h"

namespace feilong::proxy {

// The same snapshot the mirror gets; `content_length_known` turns true once
// the download knows the length and its task is in the piece store.
using FetchProgress = mirror::BlobProgress;

struct UrlFetchRequest {
  // The absolute origin URL (http:// or https://). The task id comes from
  // it as for `flget <url>`, so a proxy GET and flget share one task.
  std::string url;
};

class UrlFetcher {
 public:
  virtual ~UrlFetcher() = default;
  // Starts (or joins) the download; returns its task id (the key of its
  // pieces in the store). `on_progress` is called from another thread,
  // possibly after the caller lost interest; it must not block and must
  // keep what it touches alive (capture a shared_ptr). Errors:
  // InvalidArgument for a URL the daemon cannot download, Cancelled at
  // shutdown.
  virtual Result<std::string> Start(const UrlFetchRequest& request,
                                    std::function<void(const FetchProgress&)> on_progress) = 0;
};

}  // namespace feilong::proxy
