#include "daemon/mirror_blob_fetcher.h"

#include "common/task_id.h"
#include "daemon/daemon_config.h"
#include "daemon/services.h"

namespace feilong::daemon {

mirror::BlobProgress ToBlobProgress(const DownloadProgress& p) {
  mirror::BlobProgress out;
  out.content_length_known = p.content_length_known;
  out.content_length = p.content_length;
  out.bytes_from_cache = p.bytes_from_cache;
  out.bytes_from_peers = p.bytes_from_peers;
  out.bytes_from_origin = p.bytes_from_origin;
  out.done = p.done;
  out.status = p.status;
  return out;
}

Status MirrorBlobFetcher::Start(const mirror::BlobFetchRequest& request,
                                std::function<void(const mirror::BlobProgress&)> on_progress) {
  DownloadRequestOptions options;
  options.task_id = request.task_id;
  options.spec.set_url(request.url);
  options.spec.set_application(std::string(kOciBlobApplication));
  options.spec.set_digest(request.digest);
  for (const auto& [name, value] : request.headers) {
    (*options.spec.mutable_request_headers())[name] = value;
  }
  options.private_task = SpecCarriesCredentials(options.spec);
  // The mirror asked the registry with the client's credentials first
  // (mirror.verify_blob_access); with that check off, the operator vouches.
  options.access_proven = true;
  options.allow_back_to_source = config_.back_to_source;
  options.timeout = config_.download_timeout;

  DownloadWaiter waiter;  // no output path: the mirror reads the piece store
  waiter.on_progress = [on_progress = std::move(on_progress)](const DownloadProgress& p) {
    on_progress(ToBlobProgress(p));
  };
  return tasks_.Start(options, std::move(waiter));
}

}  // namespace feilong::daemon
