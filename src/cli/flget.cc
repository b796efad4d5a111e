#include "cli/flget.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "feilong/daemon/v1/daemon.grpc.pb.h"

namespace feilong::cli {

namespace dv1 = feilong::daemon::v1;
namespace cv1 = feilong::common::v1;

namespace {

const char* ReasonText(cv1::BackToSourceReason reason) {
  switch (reason) {
    case cv1::BACK_TO_SOURCE_REASON_NO_SCHEDULER:
      return "no scheduler reachable";
    case cv1::BACK_TO_SOURCE_REASON_NO_PARENT:
      return "no parent had the content";
    case cv1::BACK_TO_SOURCE_REASON_PARENT_FAILURES:
      return "parents failed";
    case cv1::BACK_TO_SOURCE_REASON_SEED:
      return "this is a seed peer";
    case cv1::BACK_TO_SOURCE_REASON_CAP_REACHED:
      return "back-to-source cap reached, waited too long";
    default:
      return "";
  }
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

int ExitCodeFor(const std::string& code) {
  if (code == "InvalidArgument") return 2;
  if (code == "NotFound") return 4;
  if (code == "ResourceExhausted") return 5;
  if (code == "Corruption") return 6;
  if (code == "PermissionDenied") return 7;
  return 1;
}

int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 2;
    case grpc::StatusCode::NOT_FOUND:
      return 4;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 5;
    case grpc::StatusCode::DATA_LOSS:
      return 6;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 7;
    case grpc::StatusCode::UNAVAILABLE:
      return 3;
    default:
      return 1;
  }
}

void DrawProgress(const dv1::DownloadProgress& p, std::chrono::steady_clock::time_point start) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double rate = seconds > 0 ? p.completed_length() / seconds : 0;
  if (p.content_length_known() && p.content_length() > 0) {
    int width = 30;
    double fraction = static_cast<double>(p.completed_length()) / p.content_length();
    int filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r[%-*s] %5.1f%% %s / %s %s/s ", width, std::string(filled, '#').c_str(),
                 fraction * 100, HumanBytes(p.completed_length()).c_str(),
                 HumanBytes(p.content_length()).c_str(), HumanBytes(rate).c_str());
  } else {
    std::fprintf(stderr, "\r%s %s/s ", HumanBytes(p.completed_length()).c_str(),
                 HumanBytes(rate).c_str());
  }
  std::fflush(stderr);
}

}  // namespace

int RunFlget(const FlgetOptions& options) {
  std::error_code ec;
  std::filesystem::path output = std::filesystem::absolute(options.output, ec);
  if (ec || options.output.empty()) {
    std::fprintf(stderr, "flget: bad output path '%s'\n", options.output.c_str());
    return 2;
  }

  auto channel =
      grpc::CreateChannel("unix:" + options.socket_path, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2))) {
    std::fprintf(stderr,
                 "flget: no daemon answers on %s; start one with `fld` (or pass --socket)\n",
                 options.socket_path.c_str());
    return 3;
  }
  auto stub = dv1::Daemon::NewStub(channel);

  dv1::DownloadRequest request;
  auto* spec = request.mutable_spec();
  spec->set_url(options.url);
  spec->set_tag(options.tag);
  spec->set_application(options.application);
  spec->set_piece_length(options.piece_length);
  spec->set_digest(options.digest);
  for (const auto& [k, v] : options.headers) {
    (*spec->mutable_request_headers())[k] = v;
  }
  request.set_output_path(output.string());
  request.set_disable_back_to_source(options.disable_back_to_source);
  request.set_timeout_seconds(options.timeout_seconds);

  grpc::ClientContext context;
  auto start = std::chrono::steady_clock::now();
  auto reader = stub->Download(&context, request);
  dv1::DownloadProgress progress;
  dv1::DownloadProgress last;
  bool got_final = false;
  while (reader->Read(&progress)) {
    last = progress;
    if (options.progress) {
      DrawProgress(progress, start);
    }
    if (progress.done()) {
      got_final = true;
    }
  }
  grpc::Status status = reader->Finish();
  if (options.progress) {
    std::fprintf(stderr, "\n");
  }
  if (!status.ok()) {
    std::fprintf(stderr, "flget: %s\n", status.error_message().c_str());
    return ExitCodeFor(status.error_code());
  }
  if (!got_final) {
    std::fprintf(stderr, "flget: the daemon ended the download without a result\n");
    return 1;
  }
  if (!last.error_code().empty()) {
    std::fprintf(stderr, "flget: %s: %s\n", last.error_code().c_str(),
                 last.error_message().c_str());
    return ExitCodeFor(last.error_code());
  }
  if (options.verbosity > 0) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double rate = seconds > 0 ? last.content_length() / seconds : 0;
    std::fprintf(stderr,
                 "task %s: %s in %.2f s (%s/s); bytes from cache %llu, from peers %llu, "
                 "from origin %llu",
                 last.task_id().c_str(), HumanBytes(last.content_length()).c_str(), seconds,
                 HumanBytes(rate).c_str(), static_cast<unsigned long long>(last.bytes_from_cache()),
                 static_cast<unsigned long long>(last.bytes_from_peers()),
                 static_cast<unsigned long long>(last.bytes_from_origin()));
    // The daemon may have been allowed to the origin and still got every
    // piece from peers: name the reason only when the origin gave bytes.
    if (last.back_to_source_reason() != cv1::BACK_TO_SOURCE_REASON_NONE &&
        last.bytes_from_origin() > 0) {
      std::fprintf(stderr, " (origin used: %s)", ReasonText(last.back_to_source_reason()));
    }
    std::fprintf(stderr, "\n");
  }
  return 0;
}

}  // namespace feilong::cli
