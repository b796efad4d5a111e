#include "mirror/registry_mirror.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <span>
#include <vector>

#include "common/digest.h"
#include "common/host_port.h"
#include "common/metrics.h"
#include "common/task_id.h"
#include "common/tcp_server.h"
#include "mirror/blob_route.h"
#include "mirror/byte_range.h"
#include "mirror/forwarder.h"
#include "mirror/piece_stream.h"
#include "mirror/upstream.h"
#include "source/url.h"
#include "storage/piece_store.h"

namespace feilong::mirror {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Registry tokens can be long (a JWT per scope); 64 KiB of headers is plenty.
constexpr size_t kHeaderLimit = 64 * 1024;
// Maps a failed download to the answer a client gets when no byte was sent.
unsigned HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kCancelled:
    case StatusCode::kResourceExhausted:
      return 503;
    default:
      return 502;
  }
}

std::string_view OciCodeFor(unsigned status) {
  switch (status) {
    case 404:
      return "BLOB_UNKNOWN";
    case 403:
      return "DENIED";
    default:
      return "UNAVAILABLE";
  }
}

}  // namespace

struct RegistryMirror::Impl {
  Impl(const MirrorConfig& c, BlobFetcher& f, storage::PieceStore& s, metrics::Registry* m)
      : config(c),
        fetcher(f),
        store(s),
        own_metrics(m == nullptr ? std::make_unique<metrics::Registry>() : nullptr),
        requests(MetricsOf(m).AddCounter("feilong_mirror_requests_total",
                                         "Requests to the registry mirror, by kind.", {"kind"})),
        blobs(MetricsOf(m).AddCounter("feilong_mirror_blobs_total",
                                      "Blob GETs handled as P2P tasks, by result.", {"result"})),
        blob_body_bytes(MetricsOf(m)
                            .AddCounter("feilong_mirror_blob_bytes_total",
                                        "Blob body bytes sent to clients from the piece store.")
                            .Get()) {
    tls.set_default_verify_paths();
    tls.set_verify_mode(asio::ssl::verify_peer);
  }

  asio::awaitable<void> Serve(tcp::socket socket);
  // Answers one request; false when the connection must close.
  asio::awaitable<bool> Handle(beast::tcp_stream& client, const ClientRequest& request);
  asio::awaitable<bool> ServeBlob(beast::tcp_stream& client, const ClientRequest& request,
                                  const Upstream& upstream, const std::string& target,
                                  const BlobRoute& blob);
  // The end of a blob is sent only once the download ended well (its
  // whole-content digest matched) and, for a whole body (`hasher` set), our
  // own hash of the bytes read from the store matches too.
  asio::awaitable<Status> FinalCheck(ProgressWatch& watch, Sha256Hasher* hasher,
                                     const Result<Sha256Digest>& expected, const BlobRoute& blob);

  ForwardContext Context(const Upstream& u) { return ForwardContext{u, tls, config.io_timeout}; }
  metrics::Registry& MetricsOf(metrics::Registry* given) {
    return given != nullptr ? *given : *own_metrics;
  }

  const MirrorConfig config;
  BlobFetcher& fetcher;
  storage::PieceStore& store;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  // Counters live in the daemon's registry, or in this one when none is given.
  std::unique_ptr<metrics::Registry> own_metrics;
  metrics::Family<metrics::Counter>& requests;
  metrics::Family<metrics::Counter>& blobs;
  metrics::Counter& blob_body_bytes;

  std::atomic<uint64_t> blob_requests{0};
  std::atomic<uint64_t> blobs_served{0};
  std::atomic<uint64_t> blobs_refused{0};
  std::atomic<uint64_t> blob_bytes{0};
  std::atomic<uint64_t> passthrough_requests{0};

  void CountRefused() {
    ++blobs_refused;
    blobs.WithLabels({"refused"}).Increment();
  }

  // Declared last: destroyed first (suspended coroutines refer to the fields above).
  std::unique_ptr<TcpServer> server;
};

asio::awaitable<void> RegistryMirror::Impl::Serve(tcp::socket socket) {
  beast::tcp_stream client(std::move(socket));
  beast::error_code ignored;
  client.socket().set_option(tcp::no_delay(true), ignored);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    client.expires_after(config.io_timeout);
    auto [read_error, read] = co_await http::async_read_header(client, buffer, parser, kNoThrow);
    (void)read;
    if (read_error == http::error::header_limit) {
      co_await SendError(client, 431, "UNSUPPORTED", "request headers too large", false,
                         config.io_timeout);
      break;
    }
    if (read_error) {
      break;  // closed, reset, idle, or garbage: nothing useful to answer
    }
    if (!parser.is_done()) {
      // A body: only pushes send them, and the mirror is read-only.
      co_await SendError(client, 405, "UNSUPPORTED", "the mirror is read-only", false,
                         config.io_timeout);
      break;
    }
    bool keep_open = co_await Handle(client, parser.get());
    if (!keep_open) {
      break;
    }
  }
  client.socket().shutdown(tcp::socket::shutdown_both, ignored);
  client.socket().close(ignored);
}

asio::awaitable<bool> RegistryMirror::Impl::Handle(beast::tcp_stream& client,
                                                   const ClientRequest& request) {
  const bool keep_alive = request.keep_alive();
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    bool sent = co_await SendError(client, 405, "UNSUPPORTED",
                                   "the mirror is read-only (GET and HEAD only)", keep_alive,
                                   config.io_timeout);
    co_return sent&& keep_alive;
  }
  Target target = SplitTarget(std::string_view(request.target().data(), request.target().size()));
  std::optional<std::string> ns = QueryParam(target.query, "ns");
  std::optional<std::string> header;
  if (auto it = request.find(beast::string_view(kRegistryHeader.data(), kRegistryHeader.size()));
      it != request.end()) {
    header = std::string(it->value().data(), it->value().size());
  }
  Result<const Upstream*> upstream = ChooseUpstream(config, ns, header);
  if (!upstream.ok()) {
    spdlog::info("mirror_unknown_registry error=\"{}\"", upstream.status().message());
    bool sent = co_await SendError(client, 404, "NAME_UNKNOWN", upstream.status().message(),
                                   keep_alive, config.io_timeout);
    co_return sent&& keep_alive;
  }
  // The registry does not need containerd's ns= parameter.
  std::string query = RemoveQueryParam(target.query, "ns");
  std::string upstream_target = query.empty() ? target.path : target.path + "?" + query;

  std::optional<BlobRoute> blob = ParseBlobRoute(target.path);
  if (blob && request.method() == http::verb::get) {
    co_return co_await ServeBlob(client, request, **upstream, upstream_target, *blob);
  }
  ++passthrough_requests;
  requests.WithLabels({"passthrough"}).Increment();
  RelayOutcome outcome = co_await Forward(client, request, upstream_target, Context(**upstream));
  co_return outcome == RelayOutcome::kKeepAlive;
}

asio::awaitable<Status> RegistryMirror::Impl::FinalCheck(ProgressWatch& watch, Sha256Hasher* hasher,
                                                         const Result<Sha256Digest>& expected,
                                                         const BlobRoute& blob) {
  BlobProgress p = co_await WaitForProgress(watch, [](const BlobProgress& p) { return p.done; });
  if (!p.status.ok()) {
    co_return p.status;
  }
  if (hasher != nullptr && expected.ok() && hasher->Finish() != *expected) {
    co_return Status::Corruption("blob " + blob.Digest() + " read from the store does not match");
  }
  co_return Status::Ok();
}

asio::awaitable<bool> RegistryMirror::Impl::ServeBlob(beast::tcp_stream& client,
                                                      const ClientRequest& request,
                                                      const Upstream& upstream,
                                                      const std::string& target,
                                                      const BlobRoute& blob) {
  const bool keep_alive = request.keep_alive();
  const auto timeout = config.io_timeout;
  ++blob_requests;
  requests.WithLabels({"blob"}).Increment();
  if (config.verify_blob_access) {
    // Would the registry serve this blob to this client? If not, the
    // client gets the registry's own answer and no byte comes from P2P.
    Result<unsigned> status = co_await HeadStatus(request, target, Context(upstream));
    if (!status.ok()) {
      CountRefused();
      spdlog::warn("mirror_blob_check_failed digest={} error=\"{}\"", blob.Digest(),
                   status.status().message());
      bool sent = co_await SendError(client, 502, "UNAVAILABLE", status.status().message(),
                                     keep_alive, timeout);
      co_return sent&& keep_alive;
    }
    if (*status >= 400) {
      CountRefused();
      spdlog::info("mirror_blob_refused_by_registry digest={} status={}", blob.Digest(), *status);
      RelayOutcome outcome = co_await Forward(client, request, target, Context(upstream));
      co_return outcome == RelayOutcome::kKeepAlive;
    }
  }

  BlobFetchRequest fetch;
  fetch.task_id = ContentTaskId(blob.digest_hex);
  fetch.url = upstream.url + target;
  fetch.digest = blob.Digest();
  if (auto it = request.find(http::field::authorization); it != request.end()) {
    fetch.headers.emplace_back("Authorization",
                               std::string(it->value().data(), it->value().size()));
  }
  auto watch = std::make_shared<ProgressWatch>();
  Status started = fetcher.Start(fetch, [watch](const BlobProgress& p) { watch->Set(p); });
  if (!started.ok()) {
    CountRefused();
    bool sent =
        co_await SendError(client, 503, "UNAVAILABLE", started.message(), keep_alive, timeout);
    co_return sent&& keep_alive;
  }
  const std::string& task_id = fetch.task_id;
  BlobProgress progress = co_await WaitForProgress(
      *watch, [](const BlobProgress& p) { return p.content_length_known; });
  if (!progress.content_length_known) {
    CountRefused();
    unsigned status = HttpStatusFor(progress.status);
    spdlog::warn("mirror_blob_failed digest={} sent=0 error=\"{}\"", blob.Digest(),
                 progress.status.ToString());
    bool sent = co_await SendError(client, status, OciCodeFor(status), progress.status.message(),
                                   keep_alive, timeout);
    co_return sent&& keep_alive;
  }
  Result<storage::TaskMeta> meta = store.GetTask(task_id);
  if (!meta.ok()) {
    CountRefused();
    bool sent = co_await SendError(client, 500, "UNAVAILABLE", meta.status().message(), keep_alive,
                                   timeout);
    co_return sent&& keep_alive;
  }
  const uint64_t length = meta->content_length;

  // The body: the whole blob, or one range of it.
  ByteRange range{0, length == 0 ? 0 : length - 1};
  bool partial = false;
  if (auto it = request.find(http::field::range); it != request.end()) {
    RangeParse parsed =
        ParseRange(std::string_view(it->value().data(), it->value().size()), length, &range);
    if (parsed == RangeParse::kUnsatisfiable) {
      std::string head = fmt::format(
          "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n"
          "Content-Length: 0\r\nConnection: {}\r\n\r\n",
          length, keep_alive ? "keep-alive" : "close");
      client.expires_after(timeout);
      auto [ec, n] = co_await asio::async_write(client, asio::buffer(head), kNoThrow);
      (void)n;
      co_return !ec && keep_alive;
    }
    partial = parsed == RangeParse::kRange;
  }
  const uint64_t begin = partial ? range.first : 0;
  const uint64_t end = partial ? range.last + 1 : length;  // exclusive
  const bool whole = !partial;

  Sha256Hasher hasher;
  const Result<Sha256Digest> expected = ParseSha256String(blob.Digest());
  if (length == 0) {
    Status s = co_await FinalCheck(*watch, whole ? &hasher : nullptr, expected, blob);
    if (!s.ok()) {
      CountRefused();
      bool sent = co_await SendError(client, HttpStatusFor(s), "UNAVAILABLE", s.message(),
                                     keep_alive, timeout);
      co_return sent&& keep_alive;
    }
  }

  const std::string head = PieceAnswerHead(
      partial, range, length,
      fmt::format("Docker-Content-Digest: {}\r\nEtag: \"{}\"\r\n", blob.Digest(), blob.Digest()),
      keep_alive);
  client.expires_after(timeout);
  auto [head_error, head_written] =
      co_await asio::async_write(client, asio::buffer(head), kNoThrow);
  (void)head_written;
  if (head_error) {
    co_return false;
  }

  PieceStreamSpec spec{task_id, meta->piece_length, length, begin, end, timeout};
  PieceStreamHooks hooks;
  if (whole) {
    hooks.on_read = [&hasher](std::span<const uint8_t> bytes) { hasher.Update(bytes); };
  }
  hooks.before_last = [&]() -> asio::awaitable<Status> {
    return FinalCheck(*watch, whole ? &hasher : nullptr, expected, blob);
  };
  hooks.on_sent = [this](size_t n) {
    blob_bytes += n;
    blob_body_bytes.Increment(n);
  };
  PieceStreamResult streamed = co_await StreamPieces(client, *watch, store, spec, hooks);
  if (streamed.client_gone) {
    spdlog::info("mirror_blob_client_gone digest={} sent={}", blob.Digest(), streamed.sent);
    co_return false;
  }
  const Status& failure = streamed.failure;
  if (!failure.ok()) {
    CountRefused();
    spdlog::warn("mirror_blob_failed digest={} sent={} error=\"{}\"", blob.Digest(), streamed.sent,
                 failure.ToString());
    if (failure.IsCorruption()) {
      // Never serve these bytes again; the next request fetches afresh.
      store.DeleteTask(task_id).ok();
    }
    co_return false;  // cut the connection: the client sees a short body
  }
  BlobProgress last = watch->Get();
  ++blobs_served;
  blobs.WithLabels({"served"}).Increment();
  spdlog::info(
      "mirror_blob_served digest={} registry={} bytes={} range={} from_cache={} from_peers={} "
      "from_origin={}",
      blob.Digest(), upstream.host, end - begin, partial, last.bytes_from_cache,
      last.bytes_from_peers, last.bytes_from_origin);
  co_return keep_alive;
}

RegistryMirror::RegistryMirror(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RegistryMirror::~RegistryMirror() { Stop(); }

Result<std::unique_ptr<RegistryMirror>> RegistryMirror::Start(const MirrorConfig& config,
                                                              BlobFetcher& fetcher,
                                                              storage::PieceStore& store,
                                                              metrics::Registry* metrics) {
  FL_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(config.listen));
  auto impl = std::make_unique<Impl>(config, fetcher, store, metrics);
  Impl* raw = impl.get();
  auto server =
      TcpServer::Start({"mirror", listen.host, listen.port, config.threads},
                       [raw](tcp::socket socket) { return raw->Serve(std::move(socket)); });
  if (!server.ok()) {
    return server.status().WithContext("mirror.listen");
  }
  impl->server = std::move(server).value();
  std::string registries;
  for (const Upstream& u : config.registries) {
    registries += (registries.empty() ? "" : ",") + u.host + "=" + u.url;
  }
  spdlog::info("mirror: listening address={} registries={} default={}", raw->server->address(),
               registries, config.default_registry);
  return std::unique_ptr<RegistryMirror>(new RegistryMirror(std::move(impl)));
}

uint16_t RegistryMirror::port() const { return impl_->server->port(); }

MirrorStats RegistryMirror::stats() const {
  MirrorStats s;
  s.blob_requests = impl_->blob_requests.load();
  s.blobs_served = impl_->blobs_served.load();
  s.blobs_refused = impl_->blobs_refused.load();
  s.blob_bytes = impl_->blob_bytes.load();
  s.passthrough_requests = impl_->passthrough_requests.load();
  return s;
}

void RegistryMirror::Stop() {
  // Destroys every suspended connection coroutine.
  impl_->server->Stop();
}

}  // namespace feilong::mirror
