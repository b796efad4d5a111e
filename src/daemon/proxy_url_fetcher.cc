#include "daemon/proxy_url_fetcher.h"

#include "daemon/daemon_config.h"
#include "daemon/mirror_blob_fetcher.h"
#include "daemon/services.h"

namespace feilong::daemon {

Result<std::string> ProxyUrlFetcher::Start(
    const proxy::UrlFetchRequest& request,
    std::function<void(const proxy::FetchProgress&)> on_progress) {
  DownloadRequestOptions options;
  options.spec.set_url(request.url);
  FL_ASSIGN_OR_RETURN(options.task_id, TaskIdForSpec(options.spec));
  // The proxy forwards requests with credentials; a task that is private
  // anyway is refused here (PermissionDenied) and forwarded too.
  options.private_task = SpecCarriesCredentials(options.spec);
  options.allow_back_to_source = config_.back_to_source;
  options.timeout = config_.download_timeout;

  DownloadWaiter waiter;  // no output path: the proxy reads the piece store
  waiter.on_progress = [on_progress = std::move(on_progress)](const DownloadProgress& p) {
    on_progress(ToBlobProgress(p));  // proxy::FetchProgress is the mirror's BlobProgress
  };
  FL_RETURN_IF_ERROR(tasks_.Start(options, std::move(waiter)));
  return options.task_id;
}

}  // namespace feilong::daemon
